package buckettest_test

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
)

// call is one store operation and its expected result.
type call struct {
	op       buckettest.OpKind
	key      string
	value    string
	cas      uint32 // the CAS passed to Set, or expected from Get
	wantErr  error
	wantData string
}

func TestMemoryStoreSemantics(t *testing.T) {
	get, set := buckettest.OpGet, buckettest.OpSet
	tests := []struct {
		name  string
		calls []call
	}{
		{"get of a missing key", []call{
			{op: get, key: "a", wantErr: bucket.ErrNotFound},
		}},
		{"CAS starts at 1 and is global", []call{
			{op: set, key: "a", value: "1"},
			{op: set, key: "b", value: "2"},
			{op: get, key: "a", cas: 1, wantData: "1"},
			{op: get, key: "b", cas: 2, wantData: "2"},
			{op: set, key: "a", value: "3"},
			{op: get, key: "a", cas: 3, wantData: "3"},
		}},
		{"set on a missing key succeeds whatever the CAS", []call{
			{op: set, key: "a", value: "1", cas: 12345},
			{op: get, key: "a", cas: 1, wantData: "1"},
		}},
		{"set with a stale CAS fails", []call{
			{op: set, key: "a", value: "1"},
			{op: set, key: "a", value: "2", cas: 1},
			{op: set, key: "a", value: "3", cas: 1, wantErr: bucket.ErrCASMismatch},
			{op: get, key: "a", cas: 2, wantData: "2"},
		}},
		{"set with CAS 0 overwrites", []call{
			{op: set, key: "a", value: "1"},
			{op: set, key: "a", value: "2", cas: 0},
			{op: get, key: "a", cas: 2, wantData: "2"},
		}},
		{"a failed set takes no CAS", []call{
			{op: set, key: "a", value: "1"},
			{op: set, key: "a", value: "x", cas: 7, wantErr: bucket.ErrCASMismatch},
			{op: set, key: "b", value: "2"},
			{op: get, key: "b", cas: 2, wantData: "2"},
		}},
		{"an empty value keeps the key", []call{
			{op: set, key: "a", value: "1"},
			{op: set, key: "a", value: ""},
			{op: get, key: "a", cas: 2, wantData: ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := buckettest.NewMemoryStore()
			for i, c := range tt.calls {
				if c.op == set {
					if err := s.Set(c.key, []byte(c.value), c.cas); !errors.Is(err, c.wantErr) {
						t.Fatalf("call %d: Set = %v, want %v", i, err, c.wantErr)
					}
					continue
				}
				value, cas, err := s.Get(c.key)
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("call %d: Get error %v, want %v", i, err, c.wantErr)
				}
				if err == nil && (string(value) != c.wantData || cas != c.cas) {
					t.Fatalf("call %d: Get = %q, %d; want %q, %d", i, value, cas, c.wantData, c.cas)
				}
			}
		})
	}
}

func TestMemoryStoreCASWrapsSkippingZero(t *testing.T) {
	s := buckettest.NewMemoryStore()
	s.SetNextCAS(math.MaxUint32)
	for _, want := range []uint32{math.MaxUint32, 1, 2} {
		if err := s.Set("k", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if _, cas, _ := s.Get("k"); cas != want {
			t.Fatalf("CAS %d, want %d", cas, want)
		}
	}
}

func TestMemoryStoreCopiesValues(t *testing.T) {
	s := buckettest.NewMemoryStore()
	in := []byte("abc")
	if err := s.Set("k", in, 0); err != nil {
		t.Fatal(err)
	}
	in[0] = 'x'
	out, _, _ := s.Get("k")
	out[1] = 'y'
	if again, _, _ := s.Get("k"); string(again) != "abc" {
		t.Fatalf("stored value changed to %q through a caller's slice", again)
	}
}

func TestMemoryStoreHook(t *testing.T) {
	s := buckettest.NewMemoryStore()
	var ops []buckettest.Op
	failing := errors.New("injected")
	s.SetHook(func(op buckettest.Op) error {
		ops = append(ops, op)
		if op.Key == "fail" {
			return failing
		}
		if op.Kind == buckettest.OpSet && op.Key == "a" && len(ops) == 1 {
			// Another writer runs between the caller's calls.
			return s.Set("b", []byte("other"), 0)
		}
		return nil
	})
	if err := s.Set("a", []byte("1"), 9); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get("fail"); !errors.Is(err, failing) {
		t.Fatalf("Get with a failing hook: %v", err)
	}
	if err := s.Set("fail", nil, 0); !errors.Is(err, failing) {
		t.Fatalf("Set with a failing hook: %v", err)
	}
	s.SetHook(nil)
	if len(ops) != 4 || ops[0].Kind != buckettest.OpSet || ops[0].CAS != 9 || string(ops[0].Value) != "1" ||
		ops[1].Key != "b" || ops[2].Kind != buckettest.OpGet {
		t.Fatalf("ops seen by the hook: %+v", ops)
	}
	if keys := s.Keys(); len(keys) != 2 || keys[0] != "a" || keys[1] != "b" || s.Len() != 2 {
		t.Fatalf("keys %q", keys)
	}
	// "b" was written first: the hook ran before "a" was.
	if _, cas, _ := s.Get("b"); cas != 1 {
		t.Fatalf("b has CAS %d, want 1", cas)
	}
	if gets, sets := s.Counts(); gets != 2 || sets != 3 {
		t.Fatalf("counts %d gets, %d sets", gets, sets)
	}
	if buckettest.OpGet.String() != "get" || buckettest.OpSet.String() != "set" {
		t.Fatal("OpKind names")
	}
}

// TestNaiveCreateLosesAWrite shows why bucket.StoreLimiter needs its
// sentinel trick: two workers that both find a key missing both succeed in
// "creating" it, whatever CAS they pass.
func TestNaiveCreateLosesAWrite(t *testing.T) {
	s := buckettest.NewMemoryStore()
	_, casA, errA := s.Get("k")
	_, casB, errB := s.Get("k")
	if !errors.Is(errA, bucket.ErrNotFound) || !errors.Is(errB, bucket.ErrNotFound) {
		t.Fatal("key exists")
	}
	if err := s.Set("k", []byte("A"), casA); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", []byte("B"), casB); err != nil {
		t.Fatalf("B's blind create failed (%v): the store is stricter than shared data", err)
	}
}

func TestMemoryStoreIsSafeForConcurrentUse(t *testing.T) {
	s := buckettest.NewMemoryStore()
	if err := s.Set("n", []byte{0, 0}, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const workers, increments = 8, 200
	for range workers {
		wg.Go(func() {
			for range increments {
				for { // a compare-and-swap increment
					value, cas, err := s.Get("n")
					if err != nil {
						t.Error(err)
						return
					}
					n := int(value[0])<<8 | int(value[1]) + 1
					if s.Set("n", []byte{byte(n >> 8), byte(n)}, cas) == nil {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	value, _, _ := s.Get("n")
	if n := int(value[0])<<8 | int(value[1]); n != workers*increments {
		t.Fatalf("counter %d, want %d: an increment was lost", n, workers*increments)
	}
}
