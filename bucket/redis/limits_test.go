package redis

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
)

// takeAt takes demands with the caller's clock at now.
func takeAt(t *testing.T, l *Limiter, now time.Time, demands ...bucket.Demand) bucket.Decision {
	t.Helper()
	var d bucket.Decision
	var err error
	l.Take(now, demands, bucket.DecisionFunc(func(got bucket.Decision, e error) { d, err = got, e }))
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	return d
}

func quotaDemand(kind bucket.Kind, calls, maxCalls int64, zone string) bucket.Demand {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	d := demand(kind, calls, 1, time.Second)
	d.Bucket.Limit = bucket.Limit{}
	d.Quota = &bucket.Quota{MaxCalls: maxCalls, Period: bucket.PeriodDay, Location: loc}
	return d
}

func capDemand(kind bucket.Kind, calls, max int64) bucket.Demand {
	d := demand(kind, calls, 1, time.Second)
	d.Bucket.Limit = bucket.Limit{}
	d.MaxInFlight = max
	return d
}

// leaseCount counts the members of a cap's sorted set.
func leaseCount(t *testing.T, r *redistest.Redis, key string) int64 {
	t.Helper()
	n, err := r.Do("ZCARD", key)
	if err != nil {
		t.Fatalf("ZCARD %s: %v", key, err)
	}
	return n.(int64)
}

// pttl is a key's time to live in milliseconds (-2: no key, -1: none).
func pttl(t *testing.T, r *redistest.Redis, key string) int64 {
	t.Helper()
	n, err := r.Do("PTTL", key)
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	return n.(int64)
}

// TestQuotasThroughRedis runs the shipped script through a real webdis:
// a quota counts, resets when the caller's window moves on, counts in a
// newer window another proxy already entered, and its key expires after
// its window.
func TestQuotasThroughRedis(t *testing.T) {
	r := redistest.StartRedis(t)
	w := redistest.StartWebdis(t, r.Port)
	zone := "Europe/Paris"
	loc, _ := time.LoadLocation(zone)
	// A day ahead of Redis's clock, so that the keys (expiring after
	// their window) live.
	y, m, dd := time.Now().In(loc).AddDate(0, 0, 10).Date()
	day1 := time.Date(y, m, dd, 23, 59, 0, 0, loc)
	day2 := day1.Add(2 * time.Minute)

	t.Run("count and reset", func(t *testing.T) {
		l := webdisLimiter(t, w, "quota-reset")
		q := quotaDemand(bucket.KindShared, 1, 2, zone)
		for i := range 2 {
			if d := takeAt(t, l, day1, q); !d.Allowed {
				t.Fatalf("call %d of 2: %+v", i, d)
			}
		}
		d := takeAt(t, l, day1, q)
		if d.Allowed || !d.QuotaExceeded || d.RetryAfter != time.Minute || d.Tightest.Remaining != 0 {
			t.Fatalf("third call: %+v; want a quota rejection with Retry-After 1m (to midnight)", d)
		}
		if d := takeAt(t, l, day2, q); !d.Allowed {
			t.Fatalf("first call of the next day: %+v", d)
		}
		key := l.keys.quota(q.Bucket, *q.Quota)
		v, err := r.Do("GET", key)
		start, end := q.Quota.Window(day2)
		if want := fmt.Sprintf("%d:%d:1", start.UnixMilli(), end.UnixMilli()); err != nil || v != want {
			t.Errorf("stored %v, %v; want %s", v, err, want)
		}
		// Expires at the window's end plus the margin.
		at, err := r.Do("PEXPIRETIME", key)
		if err != nil || at != end.UnixMilli()+QuotaExpiryMarginMillis {
			t.Errorf("PEXPIRETIME %v, %v; want %d", at, err, end.UnixMilli()+QuotaExpiryMarginMillis)
		}
	})

	t.Run("a newer window is the one counted", func(t *testing.T) {
		ahead := webdisLimiter(t, w, "quota-newer")
		behind := webdisLimiter(t, w, "quota-newer")
		q := quotaDemand(bucket.KindShared, 1, 2, zone)
		if d := takeAt(t, ahead, day2, q); !d.Allowed {
			t.Fatalf("proxy ahead: %+v", d)
		}
		// The proxy whose clock is still on day 1 counts in day 2.
		if d := takeAt(t, behind, day1, q); !d.Allowed {
			t.Fatalf("proxy behind, second call of day 2: %+v", d)
		}
		d := takeAt(t, behind, day1, q)
		if d.Allowed || !d.QuotaExceeded {
			t.Fatalf("proxy behind, third call of day 2: %+v; want rejected", d)
		}
		_, end2 := q.Quota.Window(day2)
		if want := end2.Sub(day1); d.RetryAfter != want {
			t.Errorf("Retry-After %v; want %v, the end of the window counted in", d.RetryAfter, want)
		}
	})
	t.Run("a window far ahead is not followed", func(t *testing.T) {
		wrong := webdisLimiter(t, w, "quota-far")
		right := webdisLimiter(t, w, "quota-far")
		q := quotaDemand(bucket.KindShared, 1, 1, zone)
		if d := takeAt(t, wrong, day1.AddDate(0, 1, 0), q); !d.Allowed {
			t.Fatalf("proxy a month ahead: %+v", d)
		}
		if d := takeAt(t, right, day1, q); !d.Allowed {
			t.Fatalf("proxy on the right day after one far ahead: %+v", d)
		}
		if d := takeAt(t, right, day1, q); d.Allowed || !d.QuotaExceeded {
			t.Fatalf("second call of the right day: %+v; want rejected", d)
		}
	})
}

// TestCapsThroughRedis: a cap admits up to its max, rejects beyond,
// frees a place on release and on expiry, and renewal keeps a lease.
func TestCapsThroughRedis(t *testing.T) {
	r := redistest.StartRedis(t)
	w := redistest.StartWebdis(t, r.Port)
	l := webdisLimiter(t, w, "caps")
	c := capDemand(bucket.KindTool, 1, 2)
	key := l.keys.cap(c.Bucket, 2)
	now := time.Now()

	a := takeAt(t, l, now, c)
	b := takeAt(t, l, now, c)
	if !a.Allowed || !b.Allowed || a.Lease.Empty() || b.Lease.Empty() {
		t.Fatalf("two calls under a cap of 2: %+v %+v", a, b)
	}
	if d := takeAt(t, l, now, c); d.Allowed || !d.ConcurrencyExceeded || d.RetryAfter != 0 {
		t.Fatalf("third call: %+v; want a concurrency rejection without Retry-After", d)
	}
	if n := leaseCount(t, r, key); n != 2 {
		t.Fatalf("%d leases stored; want 2", n)
	}
	if ttl := pttl(t, r, key); ttl <= 0 || ttl > bucket.DefaultLeaseTTL.Milliseconds()+QuotaExpiryMarginMillis {
		t.Errorf("cap key PTTL %d", ttl)
	}

	// Release: queued, then flushed in one call.
	l.Release(a.Lease)
	if n := leaseCount(t, r, key); n != 2 {
		t.Fatalf("released before Flush: %d leases", n)
	}
	if !l.Flush() {
		t.Fatal("Flush found nothing queued")
	}
	if n := leaseCount(t, r, key); n != 1 {
		t.Fatalf("%d leases after the release; want 1", n)
	}
	d := takeAt(t, l, now, c)
	if !d.Allowed {
		t.Fatalf("after a release: %+v; want admitted", d)
	}

	// Expiry: age every lease by hand (score 1 ms after the epoch).
	members, err := r.Do("ZRANGE", key, "0", "-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members.([]any) {
		if _, err := r.Do("ZADD", key, "XX", "1", m.(string)); err != nil {
			t.Fatal(err)
		}
	}
	// Renewal does not bring back an expired lease.
	l.RenewAll(now, []bucket.Lease{b.Lease, d.Lease})
	if s, _ := r.Do("ZSCORE", key, b.Lease.(*Lease).members[0]); s != "1" {
		t.Errorf("an expired lease was renewed: score %v", s)
	}
	e := takeAt(t, l, now, c)
	f := takeAt(t, l, now, c)
	if !e.Allowed || !f.Allowed {
		t.Fatalf("after every lease expired: %+v %+v; want two admitted", e, f)
	}
	if n := leaseCount(t, r, key); n != 2 {
		t.Errorf("%d leases; the expired ones should be gone", n)
	}
	// Renewal moves a live lease's expiry forward.
	m := e.Lease.(*Lease).members[0]
	if _, err := r.Do("ZADD", key, "XX", strconv.FormatInt(time.Now().UnixMilli()+1000, 10), m); err != nil {
		t.Fatal(err)
	}
	l.RenewAll(now, []bucket.Lease{e.Lease, f.Lease})
	s, _ := r.Do("ZSCORE", key, m)
	score, _ := strconv.ParseInt(fmt.Sprint(s), 10, 64)
	if score < time.Now().UnixMilli()+bucket.DefaultLeaseTTL.Milliseconds()-5000 {
		t.Errorf("renewed score %d; want about now + %v", score, bucket.DefaultLeaseTTL)
	}
}

// TestAllOrNothingThroughRedis: a rejecting bucket leaves the quota's
// count and the cap's leases untouched, and a rejecting quota or cap
// leaves the bucket untouched.
func TestAllOrNothingThroughRedis(t *testing.T) {
	r := redistest.StartRedis(t)
	w := redistest.StartWebdis(t, r.Port)
	l := webdisLimiter(t, w, "aon")
	now := time.Now()
	q := quotaDemand(bucket.KindShared, 1, 2, "UTC")
	c := capDemand(bucket.KindShared, 1, 5)
	b := demand(bucket.KindTool, 1, 1, time.Hour)
	qKey, cKey, bKey := l.keys.quota(q.Bucket, *q.Quota), l.keys.cap(c.Bucket, 5), l.keys.of(b.Bucket)

	if d := takeAt(t, l, now, q, c, b); !d.Allowed {
		t.Fatalf("first take: %+v", d)
	}
	snapshot := func() string {
		qv, _ := r.Do("GET", qKey)
		members, _ := r.Do("ZRANGE", cKey, "0", "-1", "WITHSCORES")
		bv, _ := r.Do("GET", bKey)
		return fmt.Sprint(qv, members, bv)
	}
	before := snapshot()
	d := takeAt(t, l, now, q, c, b)
	if d.Allowed || d.QuotaExceeded || d.ConcurrencyExceeded || d.Rejected != bucket.KindsOf(bucket.KindTool) {
		t.Fatalf("second take: %+v; want rejected by the bucket alone", d)
	}
	if after := snapshot(); after != before {
		t.Errorf("a bucket rejection wrote: %s -> %s", before, after)
	}

	// A full quota leaves the cap and a bucket with room untouched.
	q1 := quotaDemand(bucket.KindShared, 1, 1, "UTC")
	roomy := demand(bucket.KindShared, 1, 100, time.Hour)
	if d := takeAt(t, l, now, q1); !d.Allowed {
		t.Fatalf("quota of 1: %+v", d)
	}
	q1Key, roomyKey := l.keys.quota(q1.Bucket, *q1.Quota), l.keys.of(roomy.Bucket)
	d = takeAt(t, l, now, q1, c, roomy)
	if d.Allowed || !d.QuotaExceeded {
		t.Fatalf("take over a full quota: %+v", d)
	}
	if v, _ := r.Do("GET", roomyKey); v != nil {
		t.Errorf("a quota rejection wrote the bucket: %v", v)
	}
	if n := leaseCount(t, r, cKey); n != 1 {
		t.Errorf("a quota rejection added a lease: %d", n)
	}
	if v, _ := r.Do("GET", q1Key); !strings.HasSuffix(fmt.Sprint(v), ":1") {
		t.Errorf("quota value %v", v)
	}

	// A full cap leaves the quota and the bucket untouched.
	c1 := capDemand(bucket.KindUser, 1, 1)
	if d := takeAt(t, l, now, c1); !d.Allowed {
		t.Fatalf("cap of 1: %+v", d)
	}
	qBefore, _ := r.Do("GET", qKey)
	d = takeAt(t, l, now, q, c1, roomy)
	if d.Allowed || !d.ConcurrencyExceeded {
		t.Fatalf("take over a full cap: %+v", d)
	}
	if qAfter, _ := r.Do("GET", qKey); qAfter != qBefore {
		t.Errorf("a cap rejection counted in the quota: %v -> %v", qBefore, qAfter)
	}
	if v, _ := r.Do("GET", roomyKey); v != nil {
		t.Errorf("a cap rejection wrote the bucket: %v", v)
	}
}

// decisionPlan is the plan of a take of one quota, one cap and one
// bucket, at the time it is taken.
func decisionPlan(tb testing.TB) (time.Time, *takePlan) {
	tb.Helper()
	now := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	plan := &takePlan{}
	err := planTake(plan, now, []bucket.Demand{quotaDemand(bucket.KindShared, 1, 5, "UTC"), capDemand(bucket.KindShared, 1, 2),
		demand(bucket.KindTool, 1, 5, time.Minute)})
	if err != nil {
		tb.Fatal(err)
	}
	return now, plan
}

// TestDecisionChecksTheReply: a reply whose numbers do not fit the plan
// is an error, never a decision.
func TestDecisionChecksTheReply(t *testing.T) {
	now, plan := decisionPlan(t)
	end := plan.quotas[0].end.UnixMilli()
	k := newKeys("p", "ns")
	for _, tt := range []struct {
		name   string
		values []int64
		ok     bool
	}{
		{"admitted", []int64{1, 0, end, 0, 0, 0, 0}, true},
		{"quota full", []int64{0, 5, end, 0, 0, 0, 0}, true},
		{"cap full", []int64{0, 0, end, 2, 0, 0, 0}, true},
		{"too few values", []int64{1, 0, end, 0, 0, 0}, false},
		{"allowed 2", []int64{2, 0, end, 0, 0, 0, 0}, false},
		{"negative count", []int64{1, -1, end, 0, 0, 0, 0}, false},
		{"count beyond 2^53", []int64{1, 1 << 53, end, 0, 0, 0, 0}, false},
		{"window ending before the caller's", []int64{1, 0, end - 1, 0, 0, 0, 0}, false},
		{"window far ahead", []int64{1, 0, end + 3*86_400_000, 0, 0, 0, 0}, false},
		{"script admits a full quota", []int64{1, 5, end, 0, 0, 0, 0}, false},
		{"script rejects what fits", []int64{0, 0, end, 0, 0, 0, 0}, false},
		{"debt nanoseconds out of range", []int64{1, 0, end, 0, 0, 1_000_000_000, 0}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decision(now, k, plan, tt.values)
			if (err == nil) != tt.ok {
				t.Fatalf("decision(%v) = %+v, %v; want ok=%t", tt.values, d, err, tt.ok)
			}
			if err == nil && d.Allowed && d.Lease.Empty() {
				t.Errorf("an admitted take under a cap holds no lease")
			}
		})
	}
}

// FuzzDecision: whatever numbers a reply holds, decision returns an error
// or a decision within range, never panics.
func FuzzDecision(f *testing.F) {
	now, plan := decisionPlan(f)
	end := plan.quotas[0].end.UnixMilli()
	f.Add(int64(1), int64(0), end, int64(0), int64(0), int64(0), int64(0))
	f.Add(int64(0), int64(5), end+86_400_000, int64(1), int64(3), int64(5), int64(1))
	f.Fuzz(func(t *testing.T, a, count, windowEnd, live, ds, dn, df int64) {
		d, err := decision(now, newKeys("p", "ns"), plan, []int64{a, count, windowEnd, live, ds, dn, df})
		if err != nil {
			return
		}
		if d.RetryAfter < 0 || d.Tightest.Remaining < 0 || d.Allowed && (d.QuotaExceeded || d.ConcurrencyExceeded) {
			t.Fatalf("decision %+v", d)
		}
	})
}

// keeperLimiter is a fallback whose takes hold a lease, recording what is
// released and renewed.
type keeperLimiter struct {
	released, renewed int
}

type keeperLease struct{}

func (keeperLease) Empty() bool { return false }

func (k *keeperLimiter) Take(_ time.Time, _ []bucket.Demand, done bucket.Decider) {
	done.Decided(bucket.Decision{Allowed: true, Lease: keeperLease{}}, nil)
}
func (k *keeperLimiter) Release(bucket.Lease)          { k.released++ }
func (k *keeperLimiter) Renew(time.Time, bucket.Lease) { k.renewed++ }

// TestLeaseCalls: a lease taken in Redis is released and renewed in
// Redis, one call for many leases; a failed call is counted and touches
// nothing else; a lease the local fallback took goes back to it.
func TestLeaseCalls(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	tr := &fakeTransport{clock: clock}
	rec := &recorder{}
	local := &keeperLimiter{}
	l, err := NewLimiter(Options{Transport: tr, Namespace: "ns", KeyPrefix: "p", Timeout: 50 * time.Millisecond,
		FailureMode: FailLocal, Fallback: local, Clock: clock.Now, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	remote := func(id string) *Lease {
		return &Lease{keys: []string{"p{ns}/inflight/shared/2"}, members: []string{id + ":1"}}
	}
	l.loaded = true
	tr.replies = []fakeReply{
		{status: 200, body: `{"EVALSHA":[2]}`},
		{status: 200, body: `{"EVALSHA":[false,"ERR boom"]}`},
		{status: 200, body: `{"EVALSHA":[5]}`},
	}
	l.Release(remote("a"))
	l.Release(remote("b"))
	if len(tr.bodies) != 0 {
		t.Fatalf("a release was sent before Flush: %v", tr.bodies)
	}
	if !l.Flush() || len(tr.bodies) != 1 || !strings.Contains(tr.bodies[0], "/release/a%3A1/b%3A1") {
		t.Fatalf("Flush sent %v; want one release of both leases", tr.bodies)
	}
	if l.Flush() {
		t.Error("a second Flush found releases queued")
	}
	l.RenewAll(clock.now, []bucket.Lease{remote("c"), remote("d")})
	if len(tr.bodies) != 2 || !strings.HasSuffix(tr.bodies[1], "/renew/30000/60000/c%3A1/d%3A1") {
		t.Fatalf("RenewAll sent %v", tr.bodies[1:])
	}
	if rec.leaseFailed != 1 {
		t.Errorf("lease failures %d after a Redis error; want 1", rec.leaseFailed)
	}
	// A reply claiming more leases than sent is malformed.
	l.Renew(clock.now, remote("e"))
	if rec.leaseFailed != 2 {
		t.Errorf("lease failures %d after a malformed reply; want 2", rec.leaseFailed)
	}

	// Redis down: the fallback's lease is wrapped, and goes back to it.
	tr.replies = []fakeReply{{refuse: errors.New("down")}}
	var d bucket.Decision
	l.Take(clock.now, []bucket.Demand{capDemand(bucket.KindShared, 1, 2)}, bucket.DecisionFunc(func(got bucket.Decision, _ error) { d = got }))
	if !d.Allowed || d.Lease.Empty() {
		t.Fatalf("fallback take: %+v", d)
	}
	sent := len(tr.bodies)
	l.Release(d.Lease)
	l.RenewAll(clock.now, []bucket.Lease{d.Lease})
	if l.Flush() || len(tr.bodies) != sent || local.released != 1 || local.renewed != 1 {
		t.Errorf("a local lease: %d calls to Redis, released %d, renewed %d locally; want 0, 1, 1",
			len(tr.bodies)-sent, local.released, local.renewed)
	}
}
