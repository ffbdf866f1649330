package config

import (
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Defaults and bounds of the redis object.
const (
	DefaultRedisTimeout   = 50 * time.Millisecond
	DefaultRedisKeyPrefix = "mcprl"
	// MinRedisTimeout and MaxRedisTimeout bound redis.timeout: every
	// tools/call waits for Redis at most this long (plus Envoy's own
	// scheduling), so a timeout of seconds would stall the MCP server's
	// clients behind a slow Redis.
	MinRedisTimeout = time.Millisecond
	MaxRedisTimeout = 5 * time.Second
	// MaxRedisKeyPrefixBytes bounds redis.keyPrefix.
	MaxRedisKeyPrefixBytes = 64
	// DefaultRejectLocallyFor and MaxRejectLocallyFor are the default and
	// the bound of redis.rejectLocallyFor: how long a worker repeats
	// Redis's rejection of a call without asking again, and so how late a
	// key reset in Redis is honoured.
	DefaultRejectLocallyFor = time.Second
	MaxRejectLocallyFor     = time.Minute
	// MaxRedisNameBytes bounds redis.cluster, redis.authority and the
	// credentials.
	MaxRedisNameBytes = 256
)

// RedisFailureMode says how a tools/call is decided when Redis cannot
// decide it.
type RedisFailureMode string

// Failure modes.
const (
	// RedisFailLocal decides with this proxy's shared-data buckets, with
	// the same limits.
	RedisFailLocal RedisFailureMode = "local"
	// RedisFailOpen admits the call.
	RedisFailOpen RedisFailureMode = "open"
	// RedisFailClosed answers 503 with a JSON-RPC error.
	RedisFailClosed RedisFailureMode = "closed"
)

// Redis configures the buckets' Redis store ("redis"), reached through
// webdis (an HTTP front for Redis) by HTTP callouts to an Envoy cluster.
type Redis struct {
	// Cluster ("cluster") is the Envoy cluster of webdis. Required.
	Cluster string
	// Authority ("authority", default: Cluster) is the :authority of the
	// callouts.
	Authority string
	// Timeout ("timeout", default 50ms) bounds the wait for Redis.
	Timeout time.Duration
	// KeyPrefix ("keyPrefix", default "mcprl") starts every key.
	KeyPrefix string
	// FailureMode ("failureMode", default "local").
	FailureMode RedisFailureMode
	// Username and Password ("username", "password") are webdis's HTTP
	// basic credentials; both or neither.
	Username, Password string
	// RejectLocallyFor ("rejectLocallyFor", default 1s; 0 turns it off)
	// is how long a worker repeats Redis's rejection of a call to the
	// same call, without calling Redis, while the rejection holds.
	RejectLocallyFor time.Duration
}

var redisMembers = []fieldSpec{
	{name: "cluster", typ: "string", required: true},
	{name: "authority", typ: "string"},
	{name: "timeout", typ: "string (Go duration)"},
	{name: "keyPrefix", typ: "string"},
	{name: "failureMode", typ: "string"},
	{name: "username", typ: "string"},
	{name: "password", typ: "string"},
	{name: "rejectLocallyFor", typ: "string (Go duration)"},
}

// parseRedis reads the redis object.
func parseRedis(path string, v gjson.Result) (*Redis, *Error) {
	if !v.IsObject() {
		return nil, errorf(path, `must be an object such as {"cluster": "webdis"}, got %s`, shown(v))
	}
	r := &Redis{Timeout: DefaultRedisTimeout, KeyPrefix: DefaultRedisKeyPrefix, FailureMode: RedisFailLocal,
		RejectLocallyFor: DefaultRejectLocallyFor}
	hasUser, hasPassword := false, false
	err := eachMember(v, path, redisMembers, func(name, path string, v gjson.Result) *Error {
		var err *Error
		switch name {
		case "cluster":
			r.Cluster, err = printable(path, v, true)
		case "authority":
			r.Authority, err = printable(path, v, false)
		case "timeout":
			r.Timeout, err = parseDuration(path, v, &redisTimeoutField)
		case "keyPrefix":
			r.KeyPrefix, err = parseKeyPrefix(path, v)
		case "failureMode":
			var mode string
			mode, err = oneOf(path, v, string(RedisFailLocal), string(RedisFailOpen), string(RedisFailClosed))
			r.FailureMode = RedisFailureMode(mode)
		case "username":
			hasUser = true
			r.Username, err = printable(path, v, false)
			if err == nil && strings.Contains(r.Username, ":") {
				err = errorf(path, "must not contain ':' (HTTP basic auth separates user and password with it), got %s", shown(v))
			}
		case "password":
			hasPassword = true
			if v.Type != gjson.String || v.Str == "" || len(v.Str) > MaxRedisNameBytes ||
				strings.IndexFunc(v.Str, func(c rune) bool { return c < 0x20 || c > 0x7e }) >= 0 {
				// The value is a secret: never shown.
				err = errorf(path, "must be a non-empty string of printable ASCII, at most %d bytes (value not shown)", MaxRedisNameBytes)
			}
			r.Password = v.Str
		case "rejectLocallyFor":
			r.RejectLocallyFor, err = parseDuration(path, v, &rejectLocallyForField)
		default:
			err = errorf(path, "known but not handled (a bug)")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case hasUser && !hasPassword:
		return nil, errorf(joinPath(path, "password"), "required with username")
	case hasPassword && !hasUser:
		return nil, errorf(joinPath(path, "username"), "required with password")
	}
	if r.Authority == "" {
		r.Authority = r.Cluster
	}
	return r, nil
}

// printable reads a non-empty string of printable ASCII, at most
// MaxRedisNameBytes long; spaces only when allowSpace.
func printable(path string, v gjson.Result, allowSpace bool) (string, *Error) {
	s, err := stringValue(path, v, "a string")
	if err != nil {
		return "", err
	}
	bad := strings.IndexFunc(s, func(c rune) bool { return c < 0x20 || c > 0x7e || c == ' ' && !allowSpace }) >= 0
	if s == "" || len(s) > MaxRedisNameBytes || bad {
		what := "printable ASCII without spaces"
		if allowSpace {
			what = "printable ASCII"
		}
		return "", errorf(path, "must be a non-empty string of %s, at most %d bytes, got %s", what, MaxRedisNameBytes, shown(v))
	}
	return s, nil
}

// The duration fields of the redis object.
var (
	redisTimeoutField = durationField{min: MinRedisTimeout, max: MaxRedisTimeout,
		asString: `"50ms"`, asDuration: `"50ms" or "1s"`, maxWhy: " (every tools/call may wait this long)"}
	rejectLocallyForField = durationField{max: MaxRejectLocallyFor,
		asString: `"1s" or "0s"`, asDuration: `"1s" or "0s"`, maxWhy: " (a key reset in Redis is honoured this late)"}
)

// parseKeyPrefix reads redis.keyPrefix.
func parseKeyPrefix(path string, v gjson.Result) (string, *Error) {
	s, err := stringValue(path, v, "a string")
	if err != nil {
		return "", err
	}
	bad := strings.IndexFunc(s, func(c rune) bool {
		return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(".:_-", c))
	}) >= 0
	if s == "" || len(s) > MaxRedisKeyPrefixBytes || bad {
		return "", errorf(path, "must be 1 to %d bytes of letters, digits and .:_- (no braces: they would change the keys' hash slot), got %s", MaxRedisKeyPrefixBytes, shown(v))
	}
	return s, nil
}
