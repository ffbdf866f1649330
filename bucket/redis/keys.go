package redis

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/internal/sha256"
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
	// built remembers the names built: a per-user name costs a SHA-256
	// of the identity, and every name a few allocations, on each take.
	built *keyCache
}

func newKeys(keyPrefix, namespace string) keys {
	tag := bucket.EscapeKeyPart(namespace)
	if tag == "" {
		// "{}" is no hash tag (the whole key would be hashed); a lone "%"
		// is no escaped name either.
		tag = "%"
	}
	return keys{prefix: keyPrefix + "{" + tag + "}/", built: &keyCache{}}
}

// Bounds of a keyCache: past either, it starts again empty.
const (
	maxCachedKeys     = 2048
	maxCachedKeyBytes = 256 << 10
)

// keyCache maps what a key names to the key.
type keyCache struct {
	names map[keyOf]string
	bytes int
}

// keyOf is what a key names: a bucket, or a quota or cap of a bucket's
// kind, name and user.
type keyOf struct {
	what   byte // 'b' bucket, 'q' quota, 'c' cap
	bucket bucket.Bucket
	quota  bucket.Quota
	max    int64
}

// get returns the key of id, built by build the first time.
func (c *keyCache) get(id keyOf, build func() string) string {
	if name, ok := c.names[id]; ok {
		return name
	}
	name := build()
	size := len(name) + len(id.bucket.Tool) + len(id.bucket.User)
	if size > maxCachedKeyBytes/64 {
		// A name this long (a long identity) is built each time.
		return name
	}
	if c.names == nil || len(c.names) >= maxCachedKeys || c.bytes+size > maxCachedKeyBytes {
		c.names, c.bytes = make(map[keyOf]string), 0
	}
	c.names[id] = name
	c.bytes += size
	return name
}

// of returns the key of b.
func (k keys) of(b bucket.Bucket) string {
	return k.built.get(keyOf{what: 'b', bucket: b}, func() string { return k.bucketKey(b) })
}

func (k keys) bucketKey(b bucket.Bucket) string {
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
	return k.built.get(keyOf{what: 'q', bucket: b, quota: q}, func() string { return k.quotaKey(b, q) })
}

func (k keys) quotaKey(b bucket.Bucket, q bucket.Quota) string {
	zone := "UTC"
	if q.Location != nil {
		zone = q.Location.String()
	}
	return k.limitKey("quota", b) + "/" + strconv.FormatInt(q.MaxCalls, 10) + "/" +
		strconv.Itoa(int(q.Period)) + "/" + bucket.EscapeKeyPart(zone)
}

// cap returns the key of a concurrency cap of b's kind, tool and user.
func (k keys) cap(b bucket.Bucket, max int64) string {
	return k.built.get(keyOf{what: 'c', bucket: b, max: max}, func() string { return k.capKey(b, max) })
}

func (k keys) capKey(b bucket.Bucket, max int64) string {
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
