package bucket_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
)

// slotKeys returns the slot keys of the store.
func slotKeys(store *buckettest.MemoryStore) []string {
	return slices.DeleteFunc(store.Keys(), func(k string) bool { return !strings.Contains(k, "/slot/") })
}

func TestUsersAreIsolated(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns", MaxTrackedUsers: 100})
	lim := limit(2, time.Minute)
	if got := countAdmitted(t, l, t0, 2, user("alice", lim)); got != 2 {
		t.Fatalf("alice admitted %d", got)
	}
	d := take(t, l, t0, one(user("alice", lim)))
	if d.Allowed || d.Rejected != bucket.KindsOf(bucket.KindUser) || d.RetryAfter != 30*time.Second || d.Overflowed {
		t.Fatalf("alice's third call: %+v", d)
	}
	if got := countAdmitted(t, l, t0, 3, user("bob", lim)); got != 2 {
		t.Fatalf("bob admitted %d after alice emptied her bucket, want 2", got)
	}
	// Per-user-per-tool buckets are separate per tool and per user.
	if got := countAdmitted(t, l, t0, 3, userTool("bob", "a", lim)); got != 2 {
		t.Fatalf("bob/a admitted %d", got)
	}
	if got := countAdmitted(t, l, t0, 3, userTool("bob", "b", lim)); got != 2 {
		t.Fatalf("bob/b admitted %d", got)
	}
	if got := countAdmitted(t, l, t0, 3, userTool("alice", "a", lim)); got != 2 {
		t.Fatalf("alice/a admitted %d", got)
	}
}

func TestUserTableStaysBounded(t *testing.T) {
	store := buckettest.NewMemoryStore()
	const size = 8
	l := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: size})
	lim := limit(2, time.Minute)
	perUser := map[string]int{}
	overflowed := 0
	now := t0
	for i := range 2000 {
		id := fmt.Sprint("user", i%1000)
		d := take(t, l, now, one(user(id, lim), userTool(id, "search", lim)))
		if d.Allowed {
			perUser[id]++
		}
		if d.Overflowed {
			overflowed++
		}
		now = now.Add(time.Second)
	}
	// 2 tables of 8 slots and 2 overflow buckets, the salt and the sentinel.
	if n := store.Len(); n > 2*size+2+2 {
		t.Fatalf("%d keys after 1000 users, want <= %d: %q", n, 2*size+4, store.Keys())
	}
	if overflowed == 0 {
		t.Fatal("no user overflowed a table of 8 with 1000 users")
	}
	// Every user calls twice, 1000s apart: at most 2 admitted each.
	for id, n := range perUser {
		if n > 2 {
			t.Fatalf("%s admitted %d times", id, n)
		}
	}
}

func TestUserDoesNotLimitAnotherWhileTableHasRoom(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns", MaxTrackedUsers: 256})
	lim := limit(3, time.Minute)
	// 64 users empty their buckets: a quarter of the table is busy.
	for i := range 64 {
		if got := countAdmitted(t, l, t0, 5, user(fmt.Sprint("busy", i), lim)); got != 3 {
			t.Fatalf("busy%d admitted %d", i, got)
		}
	}
	for i := range 64 {
		id := fmt.Sprint("new", i)
		for range 3 {
			if d := take(t, l, t0, one(user(id, lim))); !d.Allowed || d.Overflowed {
				t.Fatalf("%s limited by the others: %+v", id, d)
			}
		}
	}
	if s := l.Stats(); s.Overflowed != 0 || s.SlotClaims != 128 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFullSlotsAreReclaimed(t *testing.T) {
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 4})
	lim := limit(2, time.Minute)
	for i := range 4 {
		if d := take(t, l, t0, one(user(fmt.Sprint("u", i), lim))); !d.Allowed || d.Overflowed {
			t.Fatalf("u%d: %+v", i, d)
		}
	}
	// The table is full of users whose buckets are not full: the next
	// user draws from the overflow bucket.
	if d := take(t, l, t0, one(user("late", lim))); !d.Allowed || !d.Overflowed {
		t.Fatalf("late user: %+v, want admitted through the overflow bucket", d)
	}
	// 30s later every bucket is full again (one token refills in 30s);
	// after the reclaim grace (1s) their slots may be reclaimed.
	if d := take(t, l, t0.Add(30*time.Second), one(user("new", lim))); !d.Overflowed {
		t.Fatalf("slot reclaimed within the grace: %+v", d)
	}
	later := t0.Add(31 * time.Second)
	for i := range 4 {
		id := fmt.Sprint("new", i)
		if d := take(t, l, later, one(user(id, lim))); !d.Allowed || d.Overflowed {
			t.Fatalf("%s: %+v", id, d)
		}
	}
	if n := len(slotKeys(store)); n != 4 {
		t.Fatalf("%d slots", n)
	}
	// The evicted users start with full buckets, exactly as if they had
	// kept their slots: through the overflow bucket now that the table is busy.
	if d := take(t, l, later, one(user("u0", lim))); !d.Allowed || !d.Overflowed {
		t.Fatalf("evicted user: %+v", d)
	}
}

func TestOverflowBucketLimitsOverflowedUsers(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns", MaxTrackedUsers: 2})
	lim := limit(3, time.Minute)
	take(t, l, t0, one(user("a", lim)))
	take(t, l, t0, one(user("b", lim)))
	admitted := 0
	for i := range 10 {
		d := take(t, l, t0, one(user(fmt.Sprint("x", i), lim)))
		if !d.Overflowed {
			t.Fatalf("x%d not overflowed: %+v", i, d)
		}
		if d.Allowed {
			admitted++
		} else if d.Rejected != bucket.KindsOf(bucket.KindUser) || d.RetryAfter != 20*time.Second {
			t.Fatalf("x%d rejected with %+v", i, d)
		}
	}
	if admitted != 3 {
		t.Fatalf("overflowed users admitted %d times, want the overflow bucket's 3", admitted)
	}
}

func TestNewSlotInheritsOverflowDebt(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns", MaxTrackedUsers: 1})
	lim := limit(2, time.Minute) // a token per 30s
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// alice owns the only slot, owing 30s.
	take(t, l, at(0), one(user("alice", lim)))
	// bob overflows and empties the overflow bucket: it owes 60s at +10s.
	if got := countAdmitted(t, l, at(10*time.Second), 3, user("bob", lim)); got != 2 {
		t.Fatalf("bob admitted %d through the overflow bucket", got)
	}
	// At +31s alice's bucket is full: bob claims her slot, but starts with
	// the overflow bucket's debt (39s): he is still limited.
	d := take(t, l, at(31*time.Second), one(user("bob", lim)))
	if d.Allowed || d.Overflowed || d.RetryAfter != 9*time.Second {
		t.Fatalf("bob at +31s: %+v, want rejected for 9s from his new slot", d)
	}
	if d := take(t, l, at(40*time.Second), one(user("bob", lim))); !d.Allowed || d.Overflowed {
		t.Fatalf("bob at +40s: %+v", d)
	}
	// bob's total over [10s, 40s] is 3 <= 2 + 30s of refill (1 token).
	if d := take(t, l, at(40*time.Second), one(user("bob", lim))); d.Allowed {
		t.Fatalf("bob's 4th call in 30s admitted: %+v", d)
	}
}

func TestConcurrentClaimsOfOneUser(t *testing.T) {
	store := buckettest.NewMemoryStore()
	opts := bucket.Options{Namespace: "ns", MaxTrackedUsers: 2}
	a := newLimiter(t, store, opts)
	b := newLimiter(t, store, opts)
	c := newLimiter(t, store, opts)
	lim := limit(2, time.Minute) // a token per 30s
	alice := user("alice", lim)
	candidates, err := bucket.CandidateSlotKeys(a, alice)
	if err != nil || len(candidates) != 2 {
		t.Fatalf("candidates %v %v", candidates, err)
	}
	// victor's first candidate is alice's first: he owns it, owing 30s.
	var victor bucket.Bucket
	for i := 0; victor.User == ""; i++ {
		v := user(fmt.Sprint("victor", i), lim)
		if vc, _ := bucket.CandidateSlotKeys(a, v); vc[0] == candidates[0] {
			victor = v
		}
	}
	take(t, a, t0, one(victor))

	// alice's first call, with a batch of 2, reaches two workers at once.
	// Worker a, whose clock reads +29s, finds victor's slot busy and
	// claims alice's second candidate. Before it writes, worker b, whose
	// clock reads +31s, finds victor's bucket full and claims his slot.
	// Each finds a full bucket of 2; only one may be admitted: a, after
	// its write, finds b's slot and starts over.
	batch := []bucket.Demand{{Bucket: alice, Tokens: 2}}
	store.SetHook(onceHook(isSet(bucket.SentinelKeyOf(a)), func() {
		if d := take(t, b, t0.Add(31*time.Second), batch); !d.Allowed {
			t.Errorf("b: %+v", d)
		}
	}))
	if d := take(t, a, t0.Add(29*time.Second), batch); d.Allowed || d.RetryAfter != 62*time.Second {
		t.Fatalf("a: %+v, want rejected for 62s", d)
	}
	store.SetHook(nil)
	// alice owns both slots, the second without debt.
	for _, k := range candidates {
		value, _, _ := store.Get(k)
		if ok, owned, _, _ := bucket.SlotInfo(a, alice, value); !ok || !owned {
			t.Fatalf("alice does not own %s", k)
		}
	}
	// Her next call counts both slots and merges them into the first.
	d := take(t, c, t0.Add(61*time.Second), one(alice))
	if !d.Allowed || d.Tightest.Remaining != 0 {
		t.Fatalf("alice at +61s: %+v", d)
	}
	if s := c.Stats(); s.SlotsMerged != 1 {
		t.Fatalf("stats %+v", s)
	}
	value, _, _ := store.Get(candidates[1])
	if ok, _, free, _ := bucket.SlotInfo(a, alice, value); !ok || !free {
		t.Fatalf("second slot not freed")
	}
	if d := take(t, c, t0.Add(61*time.Second), one(alice)); d.Allowed {
		t.Fatalf("alice over her limit after the merge: %+v", d)
	}
}

func TestDuplicateSlotDebtsAdd(t *testing.T) {
	// Two slots of one user that both owe (left by a race whose refund
	// could not run, say) count together.
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 2})
	lim := limit(4, time.Minute) // a token per 15s
	alice := user("alice", lim)
	candidates, _ := bucket.CandidateSlotKeys(l, alice)
	take(t, l, t0, one(alice)) // claims candidates[0], owing 15s
	owned, _, _ := store.Get(candidates[0])
	if err := store.Set(candidates[1], owned, 0); err != nil { // a copy: 15s more
		t.Fatal(err)
	}
	d := take(t, l, t0, []bucket.Demand{{Bucket: alice, Tokens: 2}})
	if !d.Allowed || d.Tightest.Remaining != 0 || d.Tightest.ResetAfter != time.Minute {
		t.Fatalf("alice: %+v, want her last 2 tokens", d)
	}
	if d := take(t, l, t0, one(alice)); d.Allowed {
		t.Fatalf("alice's 5th token: %+v", d)
	}
}

func TestSaltIsCreatedOnce(t *testing.T) {
	store := buckettest.NewMemoryStore()
	// Random salts: two workers that both find the salt missing.
	a, err := bucket.NewStoreLimiter(store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 64})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bucket.NewStoreLimiter(store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 64})
	if err != nil {
		t.Fatal(err)
	}
	alice := user("alice", limit(1, time.Minute))
	store.SetHook(onceHook(isSet(bucket.SentinelKeyOf(a)), func() {
		if d := take(t, b, t0, one(alice)); !d.Allowed {
			t.Errorf("b: %+v", d)
		}
	}))
	take(t, a, t0, one(alice))
	store.SetHook(nil)
	// Both workers use the one salt: they find alice's one slot.
	if n := len(slotKeys(store)); n != 1 {
		t.Fatalf("%d slots for one user: %q", n, store.Keys())
	}
	if s := a.Stats(); s.Admitted != 0 || s.Rejected != 1 {
		t.Fatalf("a admitted alice's second call: %+v", s)
	}
}

func TestTableSmallerThanProbes(t *testing.T) {
	// With a table of 3 and 32 probes every user scans the whole table.
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 3, Probes: 32})
	lim := limit(1, time.Minute)
	for i := range 3 {
		if d := take(t, l, t0, one(user(fmt.Sprint(i), lim))); !d.Allowed || d.Overflowed {
			t.Fatalf("user %d: %+v", i, d)
		}
	}
	if n := len(slotKeys(store)); n != 3 {
		t.Fatalf("%d slots", n)
	}
	if d := take(t, l, t0, one(user("4th", lim))); !d.Overflowed {
		t.Fatalf("4th user: %+v", d)
	}
}

func TestSlotClaimCountsAndReads(t *testing.T) {
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 10000})
	alice := user("alice", limit(100, time.Minute))
	take(t, l, t0, one(alice))
	gets, _ := store.Counts()
	take(t, l, t0, one(alice))
	gets2, _ := store.Counts()
	// An almost empty table: her scan stops at the first unwritten slot.
	if reads := gets2 - gets; reads > 3 {
		t.Fatalf("a take of a known user read %d keys", reads)
	}
	if s := l.Stats(); s.SlotClaims != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Overflowed counts decisions served by an overflow bucket.
func TestOverflowStat(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns", MaxTrackedUsers: 1})
	lim := limit(5, time.Minute)
	take(t, l, t0, one(user("a", lim)))
	var n atomic.Int32
	for range 3 {
		if take(t, l, t0, one(user("b", lim))).Overflowed {
			n.Add(1)
		}
	}
	if s := l.Stats(); s.Overflowed != 3 || n.Load() != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// TestOverflowAndClaimRace covers two takes of one user on two workers at
// the moment a slot becomes free: X (clock +59s) finds the only slot busy
// and draws from the overflow bucket, Y (clock +61s) finds it free and
// claims it. With a bucket of 1 token per minute only one may pass,
// whatever the interleaving.
func TestOverflowAndClaimRace(t *testing.T) {
	lim := limit(1, time.Minute)
	alice := user("alice", lim)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name string
		// trigger picks the write before which the other take runs.
		trigger  func(x *bucket.StoreLimiter, slot string) string
		outer    string // "x" or "y": the take the hook interrupts
		xAllowed bool
		yAllowed bool
	}{
		{
			// X writes the overflow bucket after Y has claimed: X's re-scan
			// finds alice's new slot and X starts over from it.
			name:    "claim before the overflow write",
			trigger: func(x *bucket.StoreLimiter, _ string) string { return bucket.OverflowKeyOf(x, alice) },
			outer:   "x", xAllowed: false, yAllowed: true,
		},
		{
			// X writes the overflow bucket between Y's read of it and Y's
			// claim: Y sees the change and starts over with X's debt.
			name:    "overflow write during the claim",
			trigger: func(_ *bucket.StoreLimiter, slot string) string { return slot },
			outer:   "y", xAllowed: true, yAllowed: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := buckettest.NewMemoryStore()
			opts := bucket.Options{Namespace: "ns", MaxTrackedUsers: 1}
			x, y := newLimiter(t, store, opts), newLimiter(t, store, opts)
			take(t, x, t0, one(user("victor", lim))) // the only slot, busy until +60s
			slot := slotKeys(store)[0]
			var xd, yd bucket.Decision
			runX := func() { xd = take(t, x, at(59), one(alice)) }
			runY := func() { yd = take(t, y, at(61), one(alice)) }
			outer, inner := runX, runY
			if tt.outer == "y" {
				outer, inner = runY, runX
			}
			store.SetHook(onceHook(isSet(tt.trigger(x, slot)), inner))
			outer()
			store.SetHook(nil)
			if xd.Allowed != tt.xAllowed || yd.Allowed != tt.yAllowed {
				t.Fatalf("x: %+v\ny: %+v", xd, yd)
			}
			// alice has had her token: nothing more for a minute.
			if d := take(t, y, at(61), one(alice)); d.Allowed {
				t.Fatalf("alice's third call admitted: %+v", d)
			}
			// Whatever X drew from the overflow bucket and gave back, the
			// overflow bucket serves another user now.
			if got := countAdmitted(t, x, at(61), 1, user("zed", lim)); got != 1 && tt.outer == "x" {
				t.Fatalf("the overflow bucket kept X's refunded token")
			}
		})
	}
}

func TestReclaimGraceCoversClockSkew(t *testing.T) {
	lim := limit(1, time.Minute)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name          string
		grace         time.Duration
		victorAllowed bool
	}{
		// Worker u's clock reads 5ms later than worker v's.
		{"default grace", 0, false},
		{"grace shorter than the skew", time.Millisecond, true}, // what the grace prevents
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := buckettest.NewMemoryStore()
			opts := bucket.Options{Namespace: "ns", MaxTrackedUsers: 1, ReclaimGrace: tt.grace}
			u, v := newLimiter(t, store, opts), newLimiter(t, store, opts)
			take(t, v, at(0), one(user("victor", lim))) // full again at +60s
			take(t, u, at(60*time.Second+2*time.Millisecond), one(user("ursula", lim)))
			d := take(t, v, at(60*time.Second-3*time.Millisecond), one(user("victor", lim)))
			if d.Allowed != tt.victorAllowed {
				t.Fatalf("victor's second call 3ms before his minute is up: %+v", d)
			}
		})
	}
}

// inPlaceStore is a Store that allocates nothing once its keys exist:
// Get returns the stored value itself (valid until the next call, as
// Store allows) and Set overwrites it in place.
type inPlaceStore struct {
	items map[string]*inPlaceItem
	cas   uint32
}

type inPlaceItem struct {
	value []byte
	cas   uint32
}

func (s *inPlaceStore) Get(key string) ([]byte, uint32, error) {
	it := s.items[key]
	if it == nil {
		return nil, 0, bucket.ErrNotFound
	}
	return it.value, it.cas, nil
}

func (s *inPlaceStore) Set(key string, value []byte, cas uint32) error {
	it := s.items[key]
	if it != nil && cas != 0 && cas != it.cas {
		return bucket.ErrCASMismatch
	}
	if it == nil {
		it = &inPlaceItem{}
		s.items[key] = it
	}
	s.cas++
	it.value, it.cas = append(it.value[:0], value...), s.cas
	return nil
}

// A take of users who hold their slots allocates nothing, whatever the
// order the users come in: in a Wasm VM an allocation costs as much as
// fifty Go calls. Each user's place in its tables and the key of the slot
// it owns are kept from its earlier takes.
func TestKnownUsersTakeWithoutAllocating(t *testing.T) {
	l := newLimiter(t, &inPlaceStore{items: map[string]*inPlaceItem{}}, bucket.Options{Namespace: "ns", MaxTrackedUsers: 1000})
	lots := limit(1<<40, time.Second)
	var takes [][]bucket.Demand
	for u := range 100 {
		id := fmt.Sprint("user", u)
		takes = append(takes, one(shared(lots), tool("search", lots), user(id, lots), userTool(id, "search", lots)))
	}
	admitted := 0
	decider := bucket.DecisionFunc(func(d bucket.Decision, err error) {
		if err != nil || !d.Allowed {
			t.Fatalf("take: %+v, %v", d, err)
		}
		admitted++
	})
	now := t0
	for _, demands := range takes { // every user claims its slots
		l.Take(now, demands, decider)
	}
	allocs := testing.AllocsPerRun(10, func() {
		for _, demands := range takes {
			now = now.Add(time.Millisecond)
			l.Take(now, demands, decider)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round of %d takes, want none", allocs, len(takes))
	}
	if want := len(takes) * 12; admitted != want { // AllocsPerRun runs once more
		t.Errorf("%d takes admitted, want %d", admitted, want)
	}
}
