// Package shareddata is the proxy-wasm shared key-value store and shared
// queues of the local host, with proxy-wasm-cpp-host's semantics
// (src/shared_data.cc, src/shared_queue.cc):
//
//   - one key space per vm_id; a Store is safe for use by many VMs running
//     in parallel (one mutex, as the C++ host has);
//   - every successful set takes the next value of one global CAS counter
//     (starting at 1, skipping 0 when it wraps);
//   - a set with cas 0 never checks; a set on a missing key succeeds
//     whatever cas it carries (there is no atomic create-if-absent);
//   - a get of a missing key (or of a vm_id never written) is NotFound;
//   - there is no deletion: a key lives until the Store is discarded (Envoy
//     drops a vm_id's data when its last VM goes away).
package shareddata

import (
	"sync"
)

// Result is a proxy-wasm WasmResult code.
type Result uint32

// Result codes used here (proxy-wasm ABI WasmResult).
const (
	OK          Result = 0
	NotFound    Result = 1
	Empty       Result = 7
	CasMismatch Result = 8
)

// entry is one key's value. Its value buffer is overwritten in place by
// later sets: readers get copies made under the lock, never the buffer.
type entry struct {
	value []byte
	cas   uint32
}

// Store is the process-wide shared data of one host: a key space per vm_id
// and one CAS counter for all of them.
type Store struct {
	mu      sync.Mutex
	nextCAS uint32
	data    map[string]map[string]*entry
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{nextCAS: 1, data: map[string]map[string]*entry{}}
}

// Get returns a copy of the value and its CAS of key in vmID's key space.
func (s *Store) Get(vmID, key string) ([]byte, uint32, Result) {
	return s.AppendValue(nil, vmID, []byte(key))
}

// AppendValue appends the value of key in vmID's key space to dst and
// returns the result and the value's CAS. A host call reads into a buffer
// it reuses, so a read allocates nothing once the buffer has grown.
func (s *Store) AppendValue(dst []byte, vmID string, key []byte) ([]byte, uint32, Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[vmID][string(key)]
	if !ok {
		return dst, 0, NotFound
	}
	return append(dst, e.value...), e.cas, OK
}

// Set stores a copy of value under key. A non-zero cas must equal the
// key's current CAS if the key exists; otherwise the result is CasMismatch
// and nothing changes.
func (s *Store) Set(vmID, key string, value []byte, cas uint32) Result {
	return s.SetBytes(vmID, []byte(key), value, cas)
}

// SetBytes is Set with the key as bytes, as a host call reads it from the
// module's memory. Overwriting a key allocates nothing unless its value
// grows; only a new key's name and value are allocated.
func (s *Store) SetBytes(vmID string, key, value []byte, cas uint32) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.data[vmID]
	if !ok {
		m = map[string]*entry{}
		s.data[vmID] = m
	}
	e, exists := m[string(key)]
	if !exists {
		m[string(key)] = &entry{value: append([]byte(nil), value...), cas: s.takeCAS()}
		return OK
	}
	if cas != 0 && cas != e.cas {
		return CasMismatch
	}
	e.value = append(e.value[:0], value...)
	e.cas = s.takeCAS()
	return OK
}

// takeCAS returns the counter's value and advances it, skipping 0
// (proxy-wasm-cpp-host SharedData::nextCas).
func (s *Store) takeCAS() uint32 {
	v := s.nextCAS
	s.nextCAS++
	if s.nextCAS == 0 {
		s.nextCAS++
	}
	return v
}

// Keys returns how many keys vmID's key space holds.
func (s *Store) Keys(vmID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data[vmID])
}

// Notify is called, outside the queue lock, after a value was enqueued on
// a queue: it must arrange for proxy_on_queue_ready(contextID, token) to
// run on the VM that registered the queue.
type Notify func(contextID, token uint32)

type queue struct {
	items     [][]byte
	contextID uint32
	notify    Notify
}

type queueKey struct{ vmID, name string }

// Queues are the shared queues of one host (proxy-wasm-cpp-host
// SharedQueue): a queue is named by (vm_id, name); registering again keeps
// its token and its data and moves the notification to the new registrant.
type Queues struct {
	mu        sync.Mutex
	nextToken uint32
	tokens    map[queueKey]uint32
	queues    map[uint32]*queue
}

// NewQueues returns an empty queue registry.
func NewQueues() *Queues {
	return &Queues{nextToken: 1, tokens: map[queueKey]uint32{}, queues: map[uint32]*queue{}}
}

// Register creates (or takes over) the queue name of vmID for the context
// contextID and returns its token (never 0).
func (q *Queues) Register(vmID, name string, contextID uint32, notify Notify) uint32 {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := queueKey{vmID, name}
	token, ok := q.tokens[k]
	if !ok {
		for {
			token = q.nextToken
			q.nextToken++
			if token == 0 {
				continue
			}
			if _, used := q.queues[token]; !used {
				break
			}
		}
		q.tokens[k] = token
		q.queues[token] = &queue{}
	}
	qu := q.queues[token]
	qu.contextID = contextID
	qu.notify = notify
	return token
}

// Resolve returns the token of an existing queue, or 0 when there is none.
func (q *Queues) Resolve(vmID, name string) uint32 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.tokens[queueKey{vmID, name}]
}

// Enqueue appends a copy of value and notifies the registrant.
func (q *Queues) Enqueue(token uint32, value []byte) Result {
	q.mu.Lock()
	qu, ok := q.queues[token]
	if !ok {
		q.mu.Unlock()
		return NotFound
	}
	qu.items = append(qu.items, append([]byte(nil), value...))
	notify, contextID := qu.notify, qu.contextID
	q.mu.Unlock()
	if notify != nil {
		notify(contextID, token)
	}
	return OK
}

// Dequeue removes and returns the oldest value: NotFound for an unknown
// token, Empty when the queue has nothing.
func (q *Queues) Dequeue(token uint32) ([]byte, Result) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu, ok := q.queues[token]
	if !ok {
		return nil, NotFound
	}
	if len(qu.items) == 0 {
		return nil, Empty
	}
	v := qu.items[0]
	qu.items[0] = nil
	qu.items = qu.items[1:]
	return v, OK
}
