package bucket_test

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
)

// t0 is an arbitrary current time for tests.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// zeroReader makes salts deterministic across stores.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func limit(n int64, period time.Duration) bucket.Limit {
	return bucket.Limit{MaxTokens: n, RefillPeriod: period}
}

func shared(l bucket.Limit) bucket.Bucket { return bucket.Bucket{Kind: bucket.KindShared, Limit: l} }

func tool(name string, l bucket.Limit) bucket.Bucket {
	return bucket.Bucket{Kind: bucket.KindTool, Tool: name, Limit: l}
}

func user(id string, l bucket.Limit) bucket.Bucket {
	return bucket.Bucket{Kind: bucket.KindUser, User: id, Limit: l}
}

func userTool(id, name string, l bucket.Limit) bucket.Bucket {
	return bucket.Bucket{Kind: bucket.KindUserTool, User: id, Tool: name, Limit: l}
}

// one demands one token from each bucket.
func one(buckets ...bucket.Bucket) []bucket.Demand {
	var d []bucket.Demand
	for _, b := range buckets {
		d = append(d, bucket.Demand{Bucket: b, Tokens: 1})
	}
	return d
}

func newLimiter(t testing.TB, store bucket.Store, opts bucket.Options) *bucket.StoreLimiter {
	t.Helper()
	if opts.Random == nil {
		opts.Random = zeroReader{}
	}
	l, err := bucket.NewStoreLimiter(store, opts)
	if err != nil {
		t.Fatalf("NewStoreLimiter: %v", err)
	}
	return l
}

// tryTake runs a Take and checks that done is called exactly once, before
// Take returns.
func tryTake(t testing.TB, l bucket.Limiter, now time.Time, demands []bucket.Demand) (bucket.Decision, error) {
	t.Helper()
	var calls int
	var d bucket.Decision
	var err error
	l.Take(now, demands, bucket.DecisionFunc(func(dd bucket.Decision, e error) {
		calls++
		d, err = dd, e
	}))
	if calls != 1 {
		t.Fatalf("done called %d times", calls)
	}
	return d, err
}

// take runs a Take that must not fail.
func take(t testing.TB, l bucket.Limiter, now time.Time, demands []bucket.Demand) bucket.Decision {
	t.Helper()
	d, err := tryTake(t, l, now, demands)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return d
}

// countAdmitted takes one token from the buckets n times at now and
// returns how many takes were admitted.
func countAdmitted(t testing.TB, l bucket.Limiter, now time.Time, n int, buckets ...bucket.Bucket) int {
	t.Helper()
	admitted := 0
	for range n {
		if take(t, l, now, one(buckets...)).Allowed {
			admitted++
		}
	}
	return admitted
}

func TestExactCapacityAndRealWait(t *testing.T) {
	tests := []struct {
		limit bucket.Limit
		wait  time.Duration // until the next token once empty
	}{
		{limit(1, time.Minute), time.Minute},
		{limit(3, time.Second), 333333334 * time.Nanosecond}, // 1s/3 rounded up
		{limit(7, time.Minute), 8571428572 * time.Nanosecond},
		{limit(100, time.Minute), 600 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns"})
			b := shared(tt.limit)
			if got := countAdmitted(t, l, t0, int(tt.limit.MaxTokens)+5, b); got != int(tt.limit.MaxTokens) {
				t.Fatalf("admitted %d, want %d", got, tt.limit.MaxTokens)
			}
			d := take(t, l, t0, one(b))
			if d.Allowed || d.RetryAfter != tt.wait || d.Rejected != bucket.KindsOf(bucket.KindShared) {
				t.Fatalf("decision when empty: %+v, want RetryAfter %v", d, tt.wait)
			}
			if d := take(t, l, t0.Add(tt.wait-1), one(b)); d.Allowed || d.RetryAfter != 1 {
				t.Fatalf("1ns early: %+v", d)
			}
			if d := take(t, l, t0.Add(tt.wait), one(b)); !d.Allowed {
				t.Fatalf("after the advertised wait: %+v", d)
			}
		})
	}
}

func TestAllOrNothing(t *testing.T) {
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 10})
	sh := shared(limit(5, time.Minute))
	search := tool("search", limit(1, time.Minute))
	alice := user("alice", limit(3, time.Minute))

	if d := take(t, l, t0, one(sh, search, alice)); !d.Allowed {
		t.Fatalf("first call rejected: %+v", d)
	}
	d := take(t, l, t0, one(sh, search, alice))
	if d.Allowed || d.Rejected != bucket.KindsOf(bucket.KindTool) || d.RetryAfter != time.Minute {
		t.Fatalf("second call: %+v, want rejected by the tool bucket for 1m", d)
	}
	// The rejected call took nothing: the shared bucket still has 4 tokens
	// and alice 2.
	if got := countAdmitted(t, l, t0, 10, alice); got != 2 {
		t.Fatalf("alice's bucket gave %d tokens after the rejection, want 2", got)
	}
	if got := countAdmitted(t, l, t0, 10, sh); got != 4 {
		t.Fatalf("shared bucket gave %d tokens, want 4", got)
	}
	// Now every bucket rejects; Rejected holds them all and RetryAfter is
	// the longest wait.
	d = take(t, l, t0, one(sh, search, alice))
	want := bucket.KindsOf(bucket.KindShared, bucket.KindTool, bucket.KindUser)
	if d.Allowed || d.Rejected != want || d.RetryAfter != time.Minute {
		t.Fatalf("all empty: %+v, want rejected by %v for 1m", d, want.Kinds())
	}
	if d.Tightest.Bucket != search {
		t.Fatalf("tightest %+v, want the tool bucket (longest wait)", d.Tightest)
	}
}

func TestDecisionTightest(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns"})
	sh := shared(limit(10, time.Minute))
	a := tool("a", limit(3, time.Minute))
	b := tool("b", limit(3, 30*time.Second))

	d := take(t, l, t0, one(sh, a))
	if !d.Allowed || d.Tightest != (bucket.Status{Bucket: a, Remaining: 2, ResetAfter: 20 * time.Second}) {
		t.Fatalf("tightest %+v", d.Tightest)
	}
	d = take(t, l, t0, one(sh, b))
	if d.Tightest != (bucket.Status{Bucket: b, Remaining: 2, ResetAfter: 10 * time.Second}) {
		t.Fatalf("tightest %+v", d.Tightest)
	}
	// a and b both have 1 left after this take; a is full again later.
	d = take(t, l, t0, one(sh, a, b))
	if d.Tightest != (bucket.Status{Bucket: a, Remaining: 1, ResetAfter: 40 * time.Second}) {
		t.Fatalf("tie not broken by the longer reset: %+v", d.Tightest)
	}
	// Rejected: the tightest is the rejecting bucket, as it is.
	take(t, l, t0, one(a))
	d = take(t, l, t0, one(sh, a, b))
	if d.Allowed || d.Tightest != (bucket.Status{Bucket: a, Remaining: 0, ResetAfter: time.Minute}) ||
		d.RetryAfter != 20*time.Second {
		t.Fatalf("rejected decision %+v", d)
	}
}

func TestDemandsAreMerged(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns", MaxTrackedUsers: 4})
	sh := shared(limit(3, time.Minute))
	u := user("u", limit(3, time.Minute))
	// A batch of two calls: two demands of each bucket, merged into 2 tokens.
	d := take(t, l, t0, append(one(sh, u), one(sh, u)...))
	if !d.Allowed || d.Tightest.Remaining != 1 {
		t.Fatalf("batch of 2: %+v", d)
	}
	// 2 more do not fit: rejected as a whole.
	d = take(t, l, t0, []bucket.Demand{{Bucket: sh, Tokens: 1}, {Bucket: u, Tokens: 1}, {Bucket: sh, Tokens: 1}})
	if d.Allowed || d.Rejected != bucket.KindsOf(bucket.KindShared) {
		t.Fatalf("second batch: %+v", d)
	}
	if got := countAdmitted(t, l, t0, 5, sh, u); got != 1 {
		t.Fatalf("%d left, want 1", got)
	}
}

func TestOverCapacity(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns"})
	sh := shared(limit(3, time.Minute))
	d := take(t, l, t0, []bucket.Demand{{Bucket: sh, Tokens: 4}})
	if d.Allowed || !d.OverCapacity || d.RetryAfter != 0 {
		t.Fatalf("4 tokens from a bucket of 3: %+v", d)
	}
	if got := countAdmitted(t, l, t0, 5, sh); got != 3 {
		t.Fatalf("the over-capacity take took tokens: %d left", got)
	}
}

func TestEmptyAndZeroDemands(t *testing.T) {
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "ns"})
	if d := take(t, l, t0, nil); !d.Allowed {
		t.Fatalf("no demand: %+v", d)
	}
	if d := take(t, l, t0, []bucket.Demand{{Bucket: shared(limit(1, time.Minute)), Tokens: 0}}); !d.Allowed {
		t.Fatalf("zero tokens: %+v", d)
	}
	if store.Len() != 0 {
		t.Fatalf("keys written for nothing: %v", store.Keys())
	}
	var nilDone bucket.Limiter = l
	nilDone.Take(t0, one(shared(limit(1, time.Minute))), nil) // must not panic
}

func TestNewStoreLimiterErrors(t *testing.T) {
	store := buckettest.NewMemoryStore()
	tests := []struct {
		name  string
		store bucket.Store
		opts  bucket.Options
	}{
		{"nil store", nil, bucket.Options{}},
		{"negative users", store, bucket.Options{MaxTrackedUsers: -1}},
		{"too many users", store, bucket.Options{MaxTrackedUsers: bucket.MaxTrackedUsersLimit + 1}},
		{"negative probes", store, bucket.Options{Probes: -1}},
		{"negative attempts", store, bucket.Options{MaxAttempts: -1}},
		{"negative retry", store, bucket.Options{ContendedRetryAfter: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if l, err := bucket.NewStoreLimiter(tt.store, tt.opts); err == nil || l != nil {
				t.Fatalf("NewStoreLimiter = %v, %v; want an error", l, err)
			}
		})
	}
	if _, err := bucket.NewStoreLimiter(store, bucket.Options{}); err != nil {
		t.Fatalf("zero options: %v", err)
	}
}

func TestTakeErrors(t *testing.T) {
	ok := limit(2, time.Minute)
	failing := errors.New("host says no")
	tests := []struct {
		name    string
		opts    bucket.Options
		now     time.Time
		demands []bucket.Demand
		hook    buckettest.Hook
	}{
		{name: "negative tokens", demands: []bucket.Demand{{Bucket: shared(ok), Tokens: -1}}},
		{name: "invalid limit", demands: one(shared(limit(0, time.Minute)))},
		{name: "unknown kind", demands: one(bucket.Bucket{Kind: 99, Limit: ok})},
		{name: "tool bucket without tool", demands: one(tool("", ok))},
		{name: "user bucket without user", opts: bucket.Options{MaxTrackedUsers: 4}, demands: one(user("", ok))},
		{name: "user bucket with no table", demands: one(user("u", ok))},
		{name: "two users", opts: bucket.Options{MaxTrackedUsers: 4}, demands: one(user("a", ok), userTool("b", "t", ok))},
		{name: "before 1970", now: time.Unix(-1, 0), demands: one(shared(ok))},
		{name: "after 2262", now: time.Unix(1<<40, 0), demands: one(shared(ok))},
		{name: "too late for the period", now: time.Unix(0, 7e18), demands: one(shared(limit(1, bucket.MaxRefillPeriod)))},
		{name: "store get fails", demands: one(shared(ok)), hook: func(op buckettest.Op) error {
			if op.Kind == buckettest.OpGet {
				return failing
			}
			return nil
		}},
		{name: "store set fails", demands: one(shared(ok)), hook: func(op buckettest.Op) error {
			if op.Kind == buckettest.OpSet {
				return failing
			}
			return nil
		}},
		{name: "second bucket's write fails", demands: one(shared(ok), tool("t", ok)), hook: func(op buckettest.Op) error {
			if op.Kind == buckettest.OpSet && regexp.MustCompile(`/tool/`).MatchString(op.Key) {
				return failing
			}
			return nil
		}},
		{name: "salt read fails", opts: bucket.Options{MaxTrackedUsers: 4}, demands: one(user("u", ok)),
			hook: func(op buckettest.Op) error {
				if op.Kind == buckettest.OpGet {
					return failing
				}
				return nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := buckettest.NewMemoryStore()
			tt.opts.Namespace = "ns"
			l := newLimiter(t, store, tt.opts)
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			store.SetHook(tt.hook)
			d, err := tryTake(t, l, now, tt.demands)
			if err == nil {
				t.Fatalf("Take = %+v, want an error", d)
			}
			store.SetHook(nil)
			if l.Stats().Errors != 1 {
				t.Fatalf("stats %+v", l.Stats())
			}
			// Nothing stays taken: a valid take still finds full buckets.
			if tt.hook != nil {
				if got := countAdmitted(t, l, t0, 3, shared(ok), tool("t", ok)); got != 2 {
					t.Fatalf("after the error the buckets gave %d tokens, want 2", got)
				}
			}
		})
	}
}

func TestNamespacesAreIsolated(t *testing.T) {
	store := buckettest.NewMemoryStore()
	a := newLimiter(t, store, bucket.Options{Namespace: "plugin-a", MaxTrackedUsers: 4})
	b := newLimiter(t, store, bucket.Options{Namespace: "plugin-b", MaxTrackedUsers: 4})
	buckets := []bucket.Bucket{shared(limit(2, time.Minute)), user("u", limit(2, time.Minute))}
	if got := countAdmitted(t, a, t0, 5, buckets...); got != 2 {
		t.Fatalf("a admitted %d", got)
	}
	if got := countAdmitted(t, b, t0, 5, buckets...); got != 2 {
		t.Fatalf("b admitted %d after a emptied its buckets", got)
	}
}

func TestReconfigurationKeepsUnchangedBuckets(t *testing.T) {
	store := buckettest.NewMemoryStore()
	before := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 8})
	sh, search := shared(limit(3, time.Minute)), tool("search", limit(2, time.Minute))
	alice := user("alice", limit(2, time.Minute))
	if got := countAdmitted(t, before, t0, 2, sh, search, alice); got != 2 {
		t.Fatalf("admitted %d", got)
	}
	// The new configuration keeps the shared and alice's limits and gives
	// the tool a new one; the new VM has a new limiter over the same store.
	after := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 8})
	if got := countAdmitted(t, after, t0, 5, sh); got != 1 {
		t.Fatalf("unchanged shared bucket gave %d, want the 1 left", got)
	}
	if got := countAdmitted(t, after, t0, 5, alice); got != 0 {
		t.Fatalf("unchanged user bucket gave %d, want 0", got)
	}
	if got := countAdmitted(t, after, t0, 9, tool("search", limit(5, time.Minute))); got != 5 {
		t.Fatalf("changed tool bucket gave %d, want a fresh 5", got)
	}
	// A new table size starts the user table fresh.
	resized := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxTrackedUsers: 9})
	if got := countAdmitted(t, resized, t0, 5, alice); got != 2 {
		t.Fatalf("resized table gave %d, want 2", got)
	}
}

func TestStoreKeys(t *testing.T) {
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "istio/root", MaxTrackedUsers: 100})
	lim := limit(10, time.Minute)
	take(t, l, t0, one(shared(lim), tool("a/b", lim), user("alice@example.com", lim), userTool("alice@example.com", "a/b", lim)))
	patterns := []string{
		`^mcprl1/istio%2Froot/salt$`,
		`^mcprl1/istio%2Froot/sentinel$`,
		`^mcprl1/istio%2Froot/shared/10/60000000000$`,
		`^mcprl1/istio%2Froot/tool/a%2Fb/10/60000000000$`,
		`^mcprl1/istio%2Froot/user-tool/a%2Fb/10/60000000000/100/slot/[0-9]+$`,
		`^mcprl1/istio%2Froot/user/10/60000000000/100/slot/[0-9]+$`,
	}
	keys := store.Keys()
	if len(keys) != len(patterns) {
		t.Fatalf("keys %q", keys)
	}
	for i, k := range keys {
		if !regexp.MustCompile(patterns[i]).MatchString(k) {
			t.Fatalf("key %q does not match %s", k, patterns[i])
		}
	}
	for _, k := range keys {
		value, _, _ := store.Get(k)
		if regexp.MustCompile(`alice`).Match(value) || regexp.MustCompile(`alice`).MatchString(k) {
			t.Fatalf("the identity is stored in %q", k)
		}
	}
}

func TestCorruptValuesAreOverwritten(t *testing.T) {
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "ns"})
	sh := shared(limit(2, time.Minute))
	if err := store.Set(bucket.BucketKeyOf(l, sh), []byte("garbage"), 0); err != nil {
		t.Fatal(err)
	}
	if got := countAdmitted(t, l, t0, 5, sh); got != 2 {
		t.Fatalf("admitted %d over a corrupt value, want 2", got)
	}
	if l.Stats().CorruptValues != 1 {
		t.Fatalf("stats %+v", l.Stats())
	}
}

// onceHook returns a hook that calls f the first time match is true, and
// never while f runs (f's own store calls pass through).
func onceHook(match func(buckettest.Op) bool, f func()) buckettest.Hook {
	var fired atomic.Bool
	return func(op buckettest.Op) error {
		if match(op) && fired.CompareAndSwap(false, true) {
			f()
		}
		return nil
	}
}

func isSet(key string) func(buckettest.Op) bool {
	return func(op buckettest.Op) bool { return op.Kind == buckettest.OpSet && op.Key == key }
}

// keysWith returns the keys of store that contain every one of parts.
func keysWith(store *buckettest.MemoryStore, parts ...string) []string {
	var keys []string
	for _, k := range store.Keys() {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(k, p) }) {
			keys = append(keys, k)
		}
	}
	return keys
}

// overflowWhenFull returns the key and value of the overflow of a table
// of one slot (kind "quota" or "inflight") after a take of victor, who gets
// the slot, and one of alice, who then counts in the overflow: a value to
// write into another store with the same options and key names.
func overflowWhenFull(t *testing.T, opts bucket.Options, kind string, demand func(who string) []bucket.Demand) (string, []byte) {
	t.Helper()
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, opts)
	for _, who := range []string{"victor", "alice"} {
		if d := take(t, l, t0, demand(who)); !d.Allowed {
			t.Fatalf("%s: %+v", who, d)
		}
	}
	keys := keysWith(store, "/"+kind+"/", "/overflow")
	if len(keys) != 1 {
		t.Fatalf("overflow keys: %v", keys)
	}
	value, _, err := store.Get(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	return keys[0], value
}

func TestConcurrentCreateLosesNoDebit(t *testing.T) {
	store := buckettest.NewMemoryStore()
	a := newLimiter(t, store, bucket.Options{Namespace: "ns"})
	b := newLimiter(t, store, bucket.Options{Namespace: "ns"})
	sh := shared(limit(2, time.Minute))
	// a reads the key missing; before a creates it, b creates it.
	store.SetHook(onceHook(isSet(bucket.SentinelKeyOf(a)), func() {
		if d := take(t, b, t0, one(sh)); !d.Allowed {
			t.Errorf("b rejected: %+v", d)
		}
	}))
	if d := take(t, a, t0, one(sh)); !d.Allowed {
		t.Fatalf("a rejected: %+v", d)
	}
	store.SetHook(nil)
	if s := a.Stats(); s.Conflicts != 1 {
		t.Fatalf("a did not see the conflict: %+v", s)
	}
	// Both debits count: the bucket of 2 is empty.
	if got := countAdmitted(t, a, t0, 3, sh); got != 0 {
		t.Fatalf("%d tokens left, want 0 (a debit was lost)", got)
	}
}

func TestConflictRefundsEarlierBuckets(t *testing.T) {
	sh, search := shared(limit(3, time.Minute)), tool("search", limit(2, time.Minute))
	tests := []struct {
		name        string
		other       []bucket.Demand // what b takes between a's writes
		allowed     bool
		sharedLeft  int
		searchLeft  int
		refundsLost uint64
	}{
		{"retry succeeds", one(search), true, 2, 0, 0},
		{"retry is rejected and takes nothing", []bucket.Demand{{Bucket: search, Tokens: 2}}, false, 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := buckettest.NewMemoryStore()
			a := newLimiter(t, store, bucket.Options{Namespace: "ns"})
			b := newLimiter(t, store, bucket.Options{Namespace: "ns"})
			// Create both keys first so that a's writes are plain CAS writes.
			take(t, b, t0.Add(-time.Hour), one(sh, search))
			// a has written the shared bucket; b writes the tool bucket
			// before a does, so a's write fails and a refunds.
			store.SetHook(onceHook(isSet(bucket.BucketKeyOf(a, search)), func() {
				take(t, b, t0, tt.other)
			}))
			d := take(t, a, t0, one(sh, search))
			store.SetHook(nil)
			if d.Allowed != tt.allowed {
				t.Fatalf("a: %+v", d)
			}
			if s := a.Stats(); s.Conflicts != 1 || s.RefundsAbandoned != 0 {
				t.Fatalf("stats %+v", s)
			}
			if got := countAdmitted(t, b, t0, 5, search); got != tt.searchLeft {
				t.Fatalf("tool bucket has %d, want %d", got, tt.searchLeft)
			}
			if got := countAdmitted(t, b, t0, 5, sh); got != tt.sharedLeft {
				t.Fatalf("shared bucket has %d, want %d", got, tt.sharedLeft)
			}
		})
	}
}

func TestRefundAfterRestartGivesNothingBack(t *testing.T) {
	store := buckettest.NewMemoryStore()
	a := newLimiter(t, store, bucket.Options{Namespace: "ns"})
	b := newLimiter(t, store, bucket.Options{Namespace: "ns"})
	sh, search := shared(limit(1, time.Second)), tool("search", limit(5, time.Second))
	take(t, b, t0.Add(-time.Hour), one(sh, search))
	// a (whose clock reads t0) writes the shared bucket: full until t0+1s.
	// b, two seconds later, finds it full again, takes it (a restart:
	// full until t0+3s) and writes the tool bucket before a does.
	store.SetHook(onceHook(isSet(bucket.BucketKeyOf(a, search)), func() {
		take(t, b, t0.Add(2*time.Second), one(sh, search))
	}))
	d := take(t, a, t0, one(sh, search))
	store.SetHook(nil)
	// a's retry finds the shared bucket owing 3s at t0: rejected.
	if d.Allowed {
		t.Fatalf("a admitted: %+v", d)
	}
	// a's refund must not give back the token b took: at t0+2s the
	// shared bucket is empty until t0+3s.
	if d := take(t, b, t0.Add(2*time.Second), one(sh)); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("shared bucket after a's refund: %+v, want empty for 1s", d)
	}
}

func TestContendedTakeIsRejected(t *testing.T) {
	store := buckettest.NewMemoryStore()
	l := newLimiter(t, store, bucket.Options{Namespace: "ns", MaxAttempts: 3, ContendedRetryAfter: 2 * time.Second})
	sh, search := shared(limit(3, time.Minute)), tool("search", limit(3, time.Minute))
	take(t, l, t0.Add(-time.Hour), one(sh, search))
	key := bucket.BucketKeyOf(l, search)
	// Before each of l's writes of the tool key, another worker rewrites
	// it: every attempt loses the race.
	var inside atomic.Bool
	store.SetHook(func(op buckettest.Op) error {
		if op.Kind == buckettest.OpSet && op.Key == key && op.CAS != 0 && inside.CompareAndSwap(false, true) {
			defer inside.Store(false)
			value, _, _ := store.Get(key)
			return store.Set(key, value, 0)
		}
		return nil
	})
	d := take(t, l, t0, one(sh, search))
	store.SetHook(nil)
	if d.Allowed || !d.Contended || d.RetryAfter != 2*time.Second || d.Rejected != 0 {
		t.Fatalf("decision %+v, want contended", d)
	}
	if s := l.Stats(); s.Contended != 1 || s.Conflicts != 3 || s.RefundsAbandoned != 0 {
		t.Fatalf("stats %+v", s)
	}
	if got := countAdmitted(t, l, t0, 5, sh); got != 3 {
		t.Fatalf("the contended take left %d of 3 shared tokens", got)
	}
}

// TestDecisionOutlivesTheNextTake checks that a decision shares no memory
// with the limiter's reused take memory: a later take, of other buckets,
// leaves it as it was.
func TestDecisionOutlivesTheNextTake(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns"})
	search, fetch := tool("search", limit(5, time.Minute)), tool("fetch", limit(1, time.Minute))
	first := take(t, l, t0, one(search, shared(limit(9, time.Minute))))
	want := first
	for i := range 3 {
		take(t, l, t0.Add(time.Duration(i)*time.Second), one(fetch, search))
	}
	if !reflect.DeepEqual(first, want) {
		t.Fatalf("a decision changed with later takes: %+v, was %+v", first, want)
	}
	if first.Tightest.Bucket.Tool != "search" || first.Tightest.Remaining != 4 {
		t.Errorf("tightest %+v, want the search bucket with 4 tokens left", first.Tightest)
	}
}

// TestStatsCountTakes: every call to Take counts once in Takes, and once
// in Admitted, Rejected or Errors.
func TestStatsCountTakes(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{Namespace: "ns"})
	lim := limit(2, time.Minute)
	if got := countAdmitted(t, l, t0, 3, shared(lim)); got != 2 {
		t.Fatalf("admitted %d of 3, want 2", got)
	}
	if _, err := tryTake(t, l, t0, one(shared(bucket.Limit{}))); err == nil {
		t.Fatal("a take of an invalid limit succeeded")
	}
	s := l.Stats()
	if s.Takes != 4 || s.Admitted != 2 || s.Rejected != 1 || s.Errors != 1 {
		t.Errorf("stats = %+v, want 4 takes: 2 admitted, 1 rejected, 1 error", s)
	}
}
