package bucket

import (
	"reflect"
	"testing"
	"time"
)

// TestEntryReset checks that reset leaves a zero entry but for the two
// fields a take writes before it reads them, and that it knows every
// field: a field added to entry fails here until reset clears it.
func TestEntryReset(t *testing.T) {
	if n := reflect.TypeFor[entry]().NumField(); n != 14 {
		t.Fatalf("entry has %d fields, not 14: clear the new one in reset and set it here", n)
	}
	state := State{TAT: 1, Frac: 2, Latest: 3, Restarts: 4}
	e := entry{
		req: &request{}, key: "k", exists: true, cas: 5, prev: state, debt: span{whole: 6, frac: 7},
		slot: true, claim: true, overflow: true, inherited: slotRef{key: "o", cas: 8, state: state},
		merged: []slotRef{{key: "m"}}, out: takeResult{Outcome: Outcome{Allowed: true}}, written: state,
		value: [slotValueSize]byte{9},
	}
	e.reset()
	want := entry{out: e.out, value: e.value}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("reset left %+v; want %+v", e, want)
	}
}

// TestDecideOverEarlierDecision checks that decide gives the same
// decision over one an earlier decide of the take wrote as over a zero
// one: it resets what it writes field by field instead of clearing.
func TestDecideOverEarlierDecision(t *testing.T) {
	g := gcraOf(Limit{MaxTokens: 2, RefillPeriod: 2})
	full := span{whole: 2}
	entries := func(debts ...span) []entry {
		reqs := make([]request, len(debts))
		es := make([]entry, len(debts))
		for i, debt := range debts {
			reqs[i] = request{bucket: Bucket{Kind: Kind(i % 2), Limit: Limit{MaxTokens: 2, RefillPeriod: 2}}, g: g, tokens: 1}
			es[i] = entry{req: &reqs[i], debt: debt, overflow: i == 1}
		}
		return es
	}
	tests := []struct {
		name          string
		first, second []entry
	}{
		{"admitted after rejected", entries(full, full), entries(span{}, span{})},
		{"rejected after admitted", entries(span{}, span{}), entries(span{}, full)},
		{"rejected after rejected", entries(full, span{}), entries(span{}, full)},
		{"one bucket after two", entries(full, full), entries(span{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reused, fresh Decision
			decide(tt.first, &reused)
			decide(tt.second, &reused)
			decide(tt.second, &fresh)
			if reused != fresh {
				t.Errorf("over an earlier decision: %+v; over a zero one: %+v", reused, fresh)
			}
		})
	}
}

// noStore is a Store a test expects never to be called.
type noStore struct{ t *testing.T }

func (s noStore) Get(key string) ([]byte, uint32, error) {
	s.t.Fatalf("Get(%q) called", key)
	return nil, 0, nil
}

func (s noStore) Set(key string, _ []byte, _ uint32) error {
	s.t.Fatalf("Set(%q) called", key)
	return nil
}

// TestPrepareOverStaleRequests checks that prepare, which writes each
// request in place over the previous take's, sets every field a take
// reads, and knows every field: a field added to request fails here
// until prepare sets it (or the test says why it need not).
func TestPrepareOverStaleRequests(t *testing.T) {
	// probe and claim are scanUser's memory, written before it reads them.
	if n := reflect.TypeFor[request]().NumField(); n != 7 {
		t.Fatalf("request has %d fields, not 7: set the new one in prepare and check it here", n)
	}
	l, err := NewStoreLimiter(noStore{t}, Options{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	minute := Limit{MaxTokens: 10, RefillPeriod: time.Minute}
	demands := []Demand{
		{Bucket: Bucket{Kind: KindShared, Limit: minute}, Tokens: 1},
		{Bucket: Bucket{Kind: KindTool, Tool: "search", Limit: minute}, Tokens: 2},
	}
	fresh, err := l.prepare(0, demands, nil)
	if err != nil {
		t.Fatal(err)
	}
	stale := make([]request, len(demands))
	for i := range stale {
		stale[i] = request{
			bucket: Bucket{Kind: KindUserTool, Tool: "old", User: "u", Limit: Limit{MaxTokens: 1, RefillPeriod: 1}},
			g:      gcra{m: 1, p: 1}, tokens: 99, key: "stale", user: &located{userSlots: userSlots{n: 1}},
			probe: []byte("stale"), claim: claimable{found: true},
		}
	}
	got, err := l.prepare(0, demands, stale[:0])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(fresh) || &got[0] != &stale[0] {
		t.Fatalf("prepare returned %d requests, in the lent memory %v; want %d there", len(got), &got[0] == &stale[0], len(fresh))
	}
	for i := range got {
		g, f := &got[i], &fresh[i]
		if g.bucket != f.bucket || g.g != f.g || g.tokens != f.tokens || g.key != f.key || g.user != nil {
			t.Errorf("request %d over a stale one: %+v; want %+v", i, *g, *f)
		}
	}
}
