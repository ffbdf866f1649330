package config

import (
	"strings"
	"testing"
	"time"
)

// redisExample sets every member of the redis object.
const redisExample = `{
  "shared": {"maxTokens": 100, "refillPeriod": "1m"},
  "redis": {
    "cluster": "outbound|7379||webdis.mcp.svc.cluster.local",
    "authority": "webdis.mcp.svc.cluster.local",
    "timeout": "50ms",
    "keyPrefix": "mcprl",
    "failureMode": "local",
    "username": "mcprl",
    "password": "s3cret",
    "rejectLocallyFor": "2s"
  }
}`

func TestParseRedis(t *testing.T) {
	tests := []struct {
		name, redis string
		want        Redis
	}{
		{"defaults", `{"cluster": "webdis"}`,
			Redis{Cluster: "webdis", Authority: "webdis", Timeout: DefaultRedisTimeout, KeyPrefix: "mcprl", FailureMode: RedisFailLocal,
				RejectLocallyFor: time.Second}},
		{"every member", gjsonRedis(redisExample),
			Redis{Cluster: "outbound|7379||webdis.mcp.svc.cluster.local", Authority: "webdis.mcp.svc.cluster.local",
				Timeout: 50 * time.Millisecond, KeyPrefix: "mcprl", FailureMode: RedisFailLocal, Username: "mcprl", Password: "s3cret",
				RejectLocallyFor: 2 * time.Second}},
		{"open, 5s, no local rejections", `{"cluster": "c", "failureMode": "open", "timeout": "5s", "rejectLocallyFor": "0s"}`,
			Redis{Cluster: "c", Authority: "c", Timeout: 5 * time.Second, KeyPrefix: "mcprl", FailureMode: RedisFailOpen}},
		{"closed, 1ms, local rejections for 1m", `{"cluster": "c", "failureMode": "closed", "timeout": "1ms", "keyPrefix": "a.b:c_d-1", "rejectLocallyFor": "1m"}`,
			Redis{Cluster: "c", Authority: "c", Timeout: time.Millisecond, KeyPrefix: "a.b:c_d-1", FailureMode: RedisFailClosed,
				RejectLocallyFor: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(`{` + shared + `,"redis":` + tt.redis + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if *cfg.Redis != tt.want {
				t.Errorf("got %+v\nwant %+v", *cfg.Redis, tt.want)
			}
		})
	}
	cfg, err := Parse([]byte(`{` + shared + `}`))
	if err != nil || cfg.Redis != nil {
		t.Errorf("without redis: %+v, %v; want no Redis", cfg, err)
	}
}

// gjsonRedis extracts the redis member of a configuration example.
func gjsonRedis(doc string) string {
	i := strings.Index(doc, `"redis":`)
	return strings.TrimSuffix(strings.TrimSpace(doc[i+len(`"redis":`):]), "}")
}

func TestParseRefusesBadRedis(t *testing.T) {
	tests := []struct {
		name, redis, want string
	}{
		{"not an object", `"webdis"`, `redis: must be an object such as {"cluster": "webdis"}, got "webdis"`},
		{"no cluster", `{}`, `redis.cluster: required`},
		{"empty cluster", `{"cluster": ""}`, `redis.cluster: must be a non-empty string of printable ASCII, at most 256 bytes, got ""`},
		{"cluster not a string", `{"cluster": 7379}`, `redis.cluster: must be a string, got 7379`},
		{"unknown field", `{"cluster": "c", "host": "x"}`, `redis.host: unknown field; the known fields here are cluster, authority, timeout, keyPrefix, failureMode, username, password, rejectLocallyFor`},
		{"case", `{"cluster": "c", "Timeout": "1s"}`, `redis.Timeout: unknown field; field names are case-sensitive: did you mean "timeout"?`},
		{"duplicate", `{"cluster": "c", "cluster": "d"}`, `redis.cluster: duplicate field`},
		{"bad duration", `{"cluster": "c", "timeout": "50"}`, `redis.timeout: must be a Go duration such as "50ms" or "1s" (units ns, us, ms, s, m, h), got "50"`},
		{"number timeout", `{"cluster": "c", "timeout": 50}`, `redis.timeout: must be a Go duration string such as "50ms", got 50`},
		{"zero timeout", `{"cluster": "c", "timeout": "0s"}`, `redis.timeout: must be at least 1ms, got "0s"`},
		{"timeout too long", `{"cluster": "c", "timeout": "6s"}`, `redis.timeout: must be at most 5s (every tools/call may wait this long), got "6s"`},
		{"rejectLocallyFor a number", `{"cluster": "c", "rejectLocallyFor": 1}`, `redis.rejectLocallyFor: must be a Go duration string such as "1s" or "0s", got 1`},
		{"rejectLocallyFor not a duration", `{"cluster": "c", "rejectLocallyFor": "1"}`, `redis.rejectLocallyFor: must be a Go duration such as "1s" or "0s" (units ns, us, ms, s, m, h), got "1"`},
		{"rejectLocallyFor negative", `{"cluster": "c", "rejectLocallyFor": "-1s"}`, `redis.rejectLocallyFor: must be at least 0s, got "-1s"`},
		{"rejectLocallyFor too long", `{"cluster": "c", "rejectLocallyFor": "2m"}`, `redis.rejectLocallyFor: must be at most 1m0s (a key reset in Redis is honoured this late), got "2m"`},
		{"bad failure mode", `{"cluster": "c", "failureMode": "deny"}`, `redis.failureMode: must be one of "local", "open", "closed", got "deny"`},
		{"braces in prefix", `{"cluster": "c", "keyPrefix": "a{b}"}`, `redis.keyPrefix: must be 1 to 64 bytes of letters, digits and .:_- (no braces: they would change the keys' hash slot), got "a{b}"`},
		{"empty prefix", `{"cluster": "c", "keyPrefix": ""}`, `redis.keyPrefix: must be 1 to 64 bytes of letters, digits and .:_- (no braces: they would change the keys' hash slot), got ""`},
		{"space in authority", `{"cluster": "c", "authority": "a b"}`, `redis.authority: must be a non-empty string of printable ASCII without spaces, at most 256 bytes, got "a b"`},
		{"user without password", `{"cluster": "c", "username": "u"}`, `redis.password: required with username`},
		{"password without user", `{"cluster": "c", "password": "p"}`, `redis.username: required with password`},
		{"colon in user", `{"cluster": "c", "username": "u:v", "password": "p"}`, `redis.username: must not contain ':' (HTTP basic auth separates user and password with it), got "u:v"`},
		{"bad password not shown", `{"cluster": "c", "username": "u", "password": "sec\tret"}`, `redis.password: must be a non-empty string of printable ASCII, at most 256 bytes (value not shown)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(`{` + shared + `,"redis":` + tt.redis + `}`))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got error %v\nwant       %s", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "ret") && strings.Contains(tt.redis, "sec\tret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
