// Package buckettest provides test helpers for package bucket and its
// users: an in-memory Store with the exact semantics of proxy-wasm shared
// data, and a hook to inject interleavings between the operations of
// concurrent takes.
package buckettest

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// OpKind says which Store method an Op is.
type OpKind uint8

// Operation kinds.
const (
	OpGet OpKind = iota
	OpSet
)

// String names the kind: "get" or "set".
func (k OpKind) String() string {
	if k == OpGet {
		return "get"
	}
	return "set"
}

// Op is one Store call, as seen by a Hook.
type Op struct {
	Kind  OpKind // OpGet or OpSet
	Key   string // the key read or written
	Value []byte // for a Set: the value written (do not modify or keep: the limiter reuses it after Set)
	CAS   uint32 // for a Set: the CAS passed
}

// Hook runs before every operation of a MemoryStore, outside its lock: it
// may itself call the store, for example to run another worker's take
// between a take's Get and its Set. Its own calls run the hook again, so a
// hook that calls the store must guard against re-entering itself. A
// non-nil error makes the operation fail with that error.
type Hook func(op Op) error

// item is one key's value and CAS.
type item struct {
	value []byte
	cas   uint32
}

// MemoryStore is a bucket.Store kept in memory with exactly the semantics
// of proxy-wasm-cpp-host's shared data (src/shared_data.cc, SharedData):
//
//   - one CAS counter for the whole store, starting at 1, incremented by
//     every successful Set and skipping 0 when it wraps (nextCas);
//   - Get returns a copy of the value and the key's CAS, or
//     bucket.ErrNotFound;
//   - Set on an existing key fails with bucket.ErrCASMismatch when cas is
//     non-zero and differs from the key's CAS, and otherwise stores the
//     value with a new CAS; Set on a missing key always succeeds, whatever
//     cas it carries; keys are never deleted.
//
// It is safe for concurrent use: each operation is atomic, as under the
// host's mutex. The zero MemoryStore is not usable; call NewMemoryStore.
type MemoryStore struct {
	mu      sync.Mutex
	data    map[string]item
	nextCAS uint32

	hook       atomic.Pointer[Hook]
	gets, sets atomic.Uint64
}

var _ bucket.Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store whose next CAS is 1.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{data: map[string]item{}, nextCAS: 1}
}

// SetHook installs h (nil removes the hook).
func (s *MemoryStore) SetHook(h Hook) {
	if h == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&h)
}

func (s *MemoryStore) runHook(op Op) error {
	if h := s.hook.Load(); h != nil {
		return (*h)(op)
	}
	return nil
}

// Get returns a copy of key's value and its CAS, or bucket.ErrNotFound.
func (s *MemoryStore) Get(key string) ([]byte, uint32, error) {
	s.gets.Add(1)
	if err := s.runHook(Op{Kind: OpGet, Key: key}); err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.data[key]
	if !ok {
		return nil, 0, bucket.ErrNotFound
	}
	return slices.Clone(it.value), it.cas, nil
}

// Set stores value under key with the semantics described on MemoryStore.
func (s *MemoryStore) Set(key string, value []byte, cas uint32) error {
	s.sets.Add(1)
	if err := s.runHook(Op{Kind: OpSet, Key: key, Value: value, CAS: cas}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.data[key]; ok && cas != 0 && cas != it.cas {
		return bucket.ErrCASMismatch
	}
	s.data[key] = item{value: slices.Clone(value), cas: s.takeCAS()}
	return nil
}

// takeCAS returns the next CAS value, as SharedData::nextCas: the counter
// wraps from 2^32-1 to 1, never 0.
func (s *MemoryStore) takeCAS() uint32 {
	c := s.nextCAS
	s.nextCAS++
	if s.nextCAS == 0 {
		s.nextCAS++
	}
	return c
}

// SetNextCAS sets the CAS the next successful Set gets (0 means 1), to
// test behaviour around the counter's wrap-around.
func (s *MemoryStore) SetNextCAS(c uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c == 0 {
		c = 1
	}
	s.nextCAS = c
}

// Keys returns every key, sorted.
func (s *MemoryStore) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Len returns the number of keys.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

// Counts returns the number of Get and Set calls so far, hooks' own calls
// and failed calls included.
func (s *MemoryStore) Counts() (gets, sets uint64) {
	return s.gets.Load(), s.sets.Load()
}
