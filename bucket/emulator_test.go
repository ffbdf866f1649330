package bucket_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// emulatorStore has the shared-data semantics of the SDK's host emulator
// (proxy-wasm-go-sdk v0.24.0 proxywasm/proxytest/root.go), on which the
// filter's native tests run. It differs from Envoy: a CAS counter per key
// (a new key gets the CAS it was set with plus one), and CAS 0 is compared
// like any other value, so it does not mean "no check".
type emulatorStore struct {
	mu   sync.Mutex
	data map[string]emulatorItem
}

type emulatorItem struct {
	value []byte
	cas   uint32
}

func (s *emulatorStore) Get(key string) ([]byte, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.data[key]
	if !ok {
		return nil, 0, bucket.ErrNotFound
	}
	return append([]byte{}, it.value...), it.cas, nil
}

func (s *emulatorStore) Set(key string, value []byte, cas uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		s.data = map[string]emulatorItem{}
	}
	if prev, ok := s.data[key]; ok && prev.cas != cas {
		return bucket.ErrCASMismatch
	}
	s.data[key] = emulatorItem{value: append([]byte{}, value...), cas: cas + 1}
	return nil
}

// TestWorksOnTheSDKEmulator runs the limiter on the emulator's semantics:
// every key of a take is new, keys are created one after the other.
func TestWorksOnTheSDKEmulator(t *testing.T) {
	l := newLimiter(t, &emulatorStore{}, bucket.Options{Namespace: "ns", MaxTrackedUsers: 3})
	lim := limit(2, time.Minute)
	all := func(id string) []bucket.Bucket {
		return []bucket.Bucket{shared(limit(5, time.Minute)), tool("t", lim), user(id, lim), userTool(id, "t", lim)}
	}
	if got := countAdmitted(t, l, t0, 4, all("alice")...); got != 2 {
		t.Fatalf("alice admitted %d, want 2", got)
	}
	// The tool bucket is empty: bob is rejected, and nothing is taken.
	if d := take(t, l, t0, one(all("bob")...)); d.Allowed || d.Contended {
		t.Fatalf("bob: %+v", d)
	}
	if got := countAdmitted(t, l, t0, 5, shared(limit(5, time.Minute)), user("bob", lim)); got != 2 {
		t.Fatalf("bob's own buckets gave %d, want 2", got)
	}
	for i := range 5 {
		if d := take(t, l, t0, one(user(fmt.Sprint("u", i), lim))); !d.Allowed && !d.Overflowed {
			t.Fatalf("u%d: %+v", i, d)
		}
	}
	if s := l.Stats(); s.Contended != 0 || s.Errors != 0 || s.Conflicts != 0 {
		t.Fatalf("stats %+v", s)
	}
}
