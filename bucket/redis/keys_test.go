package redis

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
)

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster hashes keys with
// (Redis Cluster specification, "Key distribution model").
func crc16(data string) uint16 {
	var crc uint16
	for i := 0; i < len(data); i++ {
		crc ^= uint16(data[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// keySlot is the Redis Cluster slot of a key: only the part between the
// first '{' and the next '}' is hashed, when that part is not empty.
func keySlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return crc16(key) % 16384
}

// TestKeysOfADecisionShareOneSlot: every bucket of a plugin, hence of any
// one decision, hashes to one Redis Cluster slot, computed here and by a
// real Redis in cluster mode (CLUSTER KEYSLOT), whatever the namespace and
// tool names hold (braces included).
func TestKeysOfADecisionShareOneSlot(t *testing.T) {
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3 (the specification's check value)", got)
	}
	r := redistest.StartRedis(t, "--cluster-enabled", "yes")
	limit := bucket.Limit{MaxTokens: 5, RefillPeriod: time.Minute}
	for _, ns := range []string{"mcp-ratelimit", "istio-system.rl", "a{b}c", "}{", ""} {
		k := newKeys("mcprl", ns)
		var slots []int64
		for _, b := range []bucket.Bucket{
			{Kind: bucket.KindShared, Limit: limit},
			{Kind: bucket.KindTool, Tool: "se{arch}", Limit: limit},
			{Kind: bucket.KindUser, User: "alice{x}", Limit: limit},
			{Kind: bucket.KindUserTool, Tool: "fetch", User: "bob", Limit: bucket.Limit{MaxTokens: 1, RefillPeriod: time.Hour}},
		} {
			key := k.of(b)
			reply, err := r.Do("CLUSTER", "KEYSLOT", key)
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
			}
			slot := reply.(int64)
			if slot != int64(keySlot(key)) {
				t.Errorf("%s: Redis says slot %d, the CRC16 here %d", key, slot, keySlot(key))
			}
			if strings.Count(key, "{") != 1 || strings.Count(key, "}") != 1 {
				t.Errorf("%s: a name's braces reached the key", key)
			}
			slots = append(slots, slot)
		}
		for _, s := range slots[1:] {
			if s != slots[0] {
				t.Errorf("namespace %q: slots %v, want one", ns, slots)
				break
			}
		}
	}
}

func TestKeyNames(t *testing.T) {
	k := newKeys("mcprl", "rl/1")
	limit := bucket.Limit{MaxTokens: 5, RefillPeriod: time.Minute}
	tests := []struct {
		b    bucket.Bucket
		want string
	}{
		{bucket.Bucket{Kind: bucket.KindShared, Limit: limit}, "mcprl{rl%2F1}/shared/5/60000000000"},
		{bucket.Bucket{Kind: bucket.KindTool, Tool: "a b", Limit: limit}, "mcprl{rl%2F1}/tool/a%20b/5/60000000000"},
		{bucket.Bucket{Kind: bucket.KindUser, User: "alice", Limit: limit}, "mcprl{rl%2F1}/user/" + userDigest("alice") + "/5/60000000000"},
		{bucket.Bucket{Kind: bucket.KindUserTool, Tool: "t", User: "alice", Limit: limit}, "mcprl{rl%2F1}/user-tool/t/" + userDigest("alice") + "/5/60000000000"},
	}
	for _, tt := range tests {
		if got := k.of(tt.b); got != tt.want {
			t.Errorf("key of %+v = %s, want %s", tt.b, got, tt.want)
		}
		if strings.Contains(k.of(tt.b), "alice") {
			t.Errorf("%s holds the identity", k.of(tt.b))
		}
	}
}

// TestKeyCache: a name comes from the cache once built, always equal to
// a fresh build of the same key, and the cache starts again empty at its
// bound instead of growing.
func TestKeyCache(t *testing.T) {
	k := newKeys("mcprl", "ns")
	limit := bucket.Limit{MaxTokens: 5, RefillPeriod: time.Minute}
	quota := bucket.Quota{MaxCalls: 3, Period: bucket.PeriodDay}
	for i := range 3 * maxCachedKeys {
		b := bucket.Bucket{Kind: bucket.KindUserTool, Tool: "t", User: strconv.Itoa(i % (maxCachedKeys + 7)), Limit: limit}
		for _, c := range []struct{ got, want string }{
			{k.of(b), k.bucketKey(b)},
			{k.quota(b, quota), k.quotaKey(b, quota)},
			{k.cap(b, 2), k.capKey(b, 2)},
		} {
			if c.got != c.want {
				t.Fatalf("user %s: cached key %s, built %s", b.User, c.got, c.want)
			}
		}
		if n := len(k.built.names); n > maxCachedKeys {
			t.Fatalf("%d cached keys, bound %d", n, maxCachedKeys)
		}
		if k.built.bytes > maxCachedKeyBytes {
			t.Fatalf("%d cached bytes, bound %d", k.built.bytes, maxCachedKeyBytes)
		}
	}
	b := bucket.Bucket{Kind: bucket.KindShared, Limit: limit}
	first := k.of(b)
	if _, ok := k.built.names[keyOf{what: 'b', bucket: b}]; !ok {
		t.Fatalf("key %s was not cached", first)
	}
	long := bucket.Bucket{Kind: bucket.KindUser, User: strings.Repeat("u", maxCachedKeyBytes), Limit: limit}
	if got, want := k.of(long), k.bucketKey(long); got != want {
		t.Fatalf("key of a long identity %s, want %s", got, want)
	}
	if _, ok := k.built.names[keyOf{what: 'b', bucket: long}]; ok {
		t.Errorf("the key of a %d-byte identity was cached", len(long.User))
	}
	if _, ok := k.built.names[keyOf{what: 'b', bucket: b}]; !ok {
		t.Errorf("a key too long to cache emptied the cache")
	}
}
