package redis

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// Key format
//
//	<prefix>{<ns>}/shared/<maxTokens>/<refillNanos>
//	<prefix>{<ns>}/tool/<tool>/<maxTokens>/<refillNanos>
//	<prefix>{<ns>}/user/<user>/<maxTokens>/<refillNanos>
//	<prefix>{<ns>}/user-tool/<tool>/<user>/<maxTokens>/<refillNanos>
//
// <prefix> is the configured keyPrefix, <ns> the plugin's namespace and
// <tool> the tool name, both escaped: every byte outside [A-Za-z0-9._~-]
// becomes %XX, so neither holds '/', '{' or '}' (an empty namespace is
// written "%"). <user> is the first 128
// bits of the SHA-256 of the identity, in hex: identities never reach
// Redis. As in shared data, the limit is part of the key, so a changed
// limit starts a fresh bucket and an unchanged one keeps its state across
// reconfigurations.
//
// {<ns>} is a Redis Cluster hash tag (Redis Cluster specification, "Hash
// tags"): only it is hashed to pick the slot, so every bucket of one plugin,
// hence every bucket of one decision, lives in one slot, which a script
// touching several keys needs in a cluster.

// keys builds the key names of one plugin.
type keys struct {
	prefix string // "<prefix>{<ns>}/"
}

func newKeys(keyPrefix, namespace string) keys {
	tag := bucket.EscapeKeyPart(namespace)
	if tag == "" {
		// "{}" is no hash tag (the whole key would be hashed); a lone "%"
		// is no escaped name either.
		tag = "%"
	}
	return keys{prefix: keyPrefix + "{" + tag + "}/"}
}

// of returns the key of b.
func (k keys) of(b bucket.Bucket) string {
	var s strings.Builder
	s.Grow(len(k.prefix) + len(b.Tool) + 96)
	s.WriteString(k.prefix)
	writeLimitPath(&s, b)
	s.WriteByte('/')
	s.WriteString(strconv.FormatInt(b.Limit.MaxTokens, 10))
	s.WriteByte('/')
	s.WriteString(strconv.FormatInt(int64(b.Limit.RefillPeriod), 10))
	return s.String()
}

// userDigest names a user in keys without revealing the identity.
func userDigest(user string) string {
	return string(appendUserDigest(nil, user))
}

// appendUserDigest appends userDigest(user) to b.
func appendUserDigest(b []byte, user string) []byte {
	sum := sha256.Sum256([]byte(user))
	return hex.AppendEncode(b, sum[:16])
}

// Quota and cap key format
//
//	<prefix>{<ns>}/quota/<kind>[/<tool>][/<user>]/<maxCalls>/<period>/<zone>
//	<prefix>{<ns>}/inflight/<kind>[/<tool>][/<user>]/<max>
//
// with the same escaping and hash tag as the buckets' keys; <zone> is the
// IANA name of the quota's time zone, escaped.

// quota returns the key of a calendar quota of b's kind, tool and user.
func (k keys) quota(b bucket.Bucket, q bucket.Quota) string {
	zone := "UTC"
	if q.Location != nil {
		zone = q.Location.String()
	}
	return k.limitKey("quota", b) + "/" + strconv.FormatInt(q.MaxCalls, 10) + "/" +
		strconv.Itoa(int(q.Period)) + "/" + bucket.EscapeKeyPart(zone)
}

// cap returns the key of a concurrency cap of b's kind, tool and user.
func (k keys) cap(b bucket.Bucket, max int64) string {
	return k.limitKey("inflight", b) + "/" + strconv.FormatInt(max, 10)
}

func (k keys) limitKey(what string, b bucket.Bucket) string {
	var s strings.Builder
	s.WriteString(k.prefix)
	s.WriteString(what)
	s.WriteByte('/')
	writeLimitPath(&s, b)
	return s.String()
}

// writeLimitPath writes the part of a key that names b's limit: its kind,
// then its name and its user's digest where it has them.
func writeLimitPath(s *strings.Builder, b bucket.Bucket) {
	s.WriteString(b.Kind.String())
	if b.Kind.HasName() {
		s.WriteByte('/')
		s.WriteString(bucket.EscapeKeyPart(b.Tool))
	}
	if b.Kind.PerUser() {
		s.WriteByte('/')
		s.WriteString(userDigest(b.User))
	}
}
