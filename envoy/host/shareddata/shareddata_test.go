package shareddata

import (
	"strconv"
	"sync"
	"testing"
)

func TestStoreCASSemantics(t *testing.T) {
	type step struct {
		op      string // "get" or "set"
		vmID    string
		key     string
		value   string
		cas     uint32
		want    Result
		wantVal string
		wantCAS uint32
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"missing key is NotFound", []step{{op: "get", key: "k", want: NotFound}}},
		{"set on a missing key succeeds whatever cas", []step{
			{op: "set", key: "k", value: "a", cas: 12345, want: OK},
			{op: "get", key: "k", want: OK, wantVal: "a", wantCAS: 1},
		}},
		{"cas 0 never checks", []step{
			{op: "set", key: "k", value: "a", want: OK},
			{op: "set", key: "k", value: "b", cas: 0, want: OK},
			{op: "get", key: "k", want: OK, wantVal: "b", wantCAS: 2},
		}},
		{"stale cas is a mismatch and changes nothing", []step{
			{op: "set", key: "k", value: "a", want: OK},
			{op: "set", key: "k", value: "b", cas: 1, want: OK},
			{op: "set", key: "k", value: "c", cas: 1, want: CasMismatch},
			{op: "get", key: "k", want: OK, wantVal: "b", wantCAS: 2},
		}},
		{"one global counter across keys and vm ids", []step{
			{op: "set", key: "a", value: "1", want: OK},
			{op: "set", vmID: "other", key: "b", value: "2", want: OK},
			{op: "set", key: "c", value: "3", want: OK},
			{op: "get", vmID: "other", key: "b", want: OK, wantVal: "2", wantCAS: 2},
			{op: "get", key: "c", want: OK, wantVal: "3", wantCAS: 3},
		}},
		{"vm ids are separate key spaces", []step{
			{op: "set", vmID: "x", key: "k", value: "a", want: OK},
			{op: "get", vmID: "y", key: "k", want: NotFound},
		}},
		{"an empty value keeps the key (no deletion)", []step{
			{op: "set", key: "k", value: "a", want: OK},
			{op: "set", key: "k", value: "", want: OK},
			{op: "get", key: "k", want: OK, wantVal: "", wantCAS: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			for i, st := range tt.steps {
				switch st.op {
				case "get":
					v, cas, r := s.Get(st.vmID, st.key)
					if r != st.want || string(v) != st.wantVal || cas != st.wantCAS {
						t.Fatalf("step %d get(%q,%q) = %q cas %d result %d, want %q cas %d result %d", i, st.vmID, st.key, v, cas, r, st.wantVal, st.wantCAS, st.want)
					}
				case "set":
					if r := s.Set(st.vmID, st.key, []byte(st.value), st.cas); r != st.want {
						t.Fatalf("step %d set = %d, want %d", i, r, st.want)
					}
				}
			}
		})
	}
}

func TestStoreCASWrapsSkippingZero(t *testing.T) {
	s := NewStore()
	s.nextCAS = ^uint32(0)
	s.Set("", "a", nil, 0)
	s.Set("", "b", nil, 0)
	_, casA, _ := s.Get("", "a")
	_, casB, _ := s.Get("", "b")
	if casA != ^uint32(0) || casB != 1 {
		t.Fatalf("cas after wrap = %d, %d; want %d, 1", casA, casB, ^uint32(0))
	}
}

func TestStoreParallelCASIncrements(t *testing.T) {
	s := NewStore()
	const workers, each = 8, 500
	// A set on a missing key never checks its CAS, so two workers creating
	// the key at once would both succeed; the key exists before they start.
	s.Set("vm", "n", []byte("0"), 0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					v, cas, _ := s.Get("vm", "n")
					n, err := strconv.Atoi(string(v))
					if err != nil {
						t.Errorf("counter holds %q: %v", v, err)
						return
					}
					if s.Set("vm", "n", []byte(strconv.Itoa(n+1)), cas) == OK {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	v, _, _ := s.Get("vm", "n")
	if string(v) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s, want %d", v, workers*each)
	}
}

func TestStoreCopiesValues(t *testing.T) {
	s := NewStore()
	in := []byte("abc")
	s.Set("", "k", in, 0)
	in[0] = 'X'
	out, _, _ := s.Get("", "k")
	out[1] = 'Y'
	again, _, _ := s.Get("", "k")
	if string(again) != "abc" {
		t.Fatalf("stored value changed through a caller's slice: %q", again)
	}
}

func TestStoreOverwriteKeepsEarlierReads(t *testing.T) {
	s := NewStore()
	s.Set("vm", "k", []byte("first"), 0)
	before, cas, _ := s.Get("vm", "k")
	if r := s.SetBytes("vm", []byte("k"), []byte("second!"), cas); r != OK {
		t.Fatalf("set with the current cas = %d", r)
	}
	if string(before) != "first" {
		t.Fatalf("a value read before an overwrite changed to %q", before)
	}
	got, _, _ := s.AppendValue([]byte("prefix:"), "vm", []byte("k"))
	if string(got) != "prefix:second!" {
		t.Fatalf("AppendValue = %q, want the value after dst", got)
	}
	if got, _, r := s.AppendValue([]byte("d"), "vm", []byte("missing")); r != NotFound || string(got) != "d" {
		t.Fatalf("AppendValue of a missing key = %q, %d; want dst unchanged, NotFound", got, r)
	}
}

// A host call reads and overwrites a key without allocating once its
// buffers have grown: the host makes none of the garbage an Envoy host
// would not.
func TestStoreReadAndOverwriteAllocateNothing(t *testing.T) {
	s := NewStore()
	key, value := []byte("bucket:1"), []byte("0123456789abcdef")
	s.SetBytes("vm", key, value, 0)
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		var cas uint32
		buf, cas, _ = s.AppendValue(buf[:0], "vm", key)
		if r := s.SetBytes("vm", key, value, cas); r != OK {
			t.Fatalf("set = %d", r)
		}
	})
	if allocs != 0 {
		t.Fatalf("a read and an overwrite allocated %v times", allocs)
	}
}

func TestQueues(t *testing.T) {
	q := NewQueues()
	if tok := q.Resolve("vm", "q"); tok != 0 {
		t.Fatalf("resolve of a missing queue = %d, want 0", tok)
	}
	var notified []uint32
	tok := q.Register("vm", "q", 7, func(ctx, token uint32) { notified = append(notified, ctx, token) })
	if tok == 0 || q.Resolve("vm", "q") != tok || q.Resolve("other", "q") != 0 {
		t.Fatalf("token %d, resolve %d", tok, q.Resolve("vm", "q"))
	}
	if _, r := q.Dequeue(tok); r != Empty {
		t.Fatalf("dequeue of an empty queue = %d, want Empty", r)
	}
	if r := q.Enqueue(tok, []byte("one")); r != OK {
		t.Fatal(r)
	}
	q.Enqueue(tok, []byte("two"))
	if len(notified) != 4 || notified[0] != 7 || notified[1] != tok {
		t.Fatalf("notifications = %v", notified)
	}
	// Registering again keeps the token and the data, and moves the
	// notification to the new registrant.
	var moved uint32
	if again := q.Register("vm", "q", 9, func(ctx, _ uint32) { moved = ctx }); again != tok {
		t.Fatalf("re-register token %d, want %d", again, tok)
	}
	q.Enqueue(tok, []byte("three"))
	if moved != 9 {
		t.Fatalf("notification went to %d, want 9", moved)
	}
	for _, want := range []string{"one", "two", "three"} {
		v, r := q.Dequeue(tok)
		if r != OK || string(v) != want {
			t.Fatalf("dequeue = %q %d, want %q", v, r, want)
		}
	}
	if r := q.Enqueue(12345, nil); r != NotFound {
		t.Fatalf("enqueue to an unknown token = %d", r)
	}
	if _, r := q.Dequeue(12345); r != NotFound {
		t.Fatalf("dequeue from an unknown token = %d", r)
	}
}
