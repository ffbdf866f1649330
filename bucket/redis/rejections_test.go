package redis

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
)

// newRecordingLimiter is a limiter over scripted replies that repeats
// Redis's rejections for ttl.
func newRecordingLimiter(t *testing.T, ttl time.Duration, replies ...fakeReply) (*Limiter, *fakeTransport, *recorder, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	tr := &fakeTransport{replies: replies, clock: clock}
	rec := &recorder{}
	l, err := NewLimiter(Options{Transport: tr, Namespace: "ns", KeyPrefix: "p", Timeout: 50 * time.Millisecond,
		FailureMode: FailClosed, Clock: clock.Now, Observer: rec, RejectLocallyFor: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return l, tr, rec, clock
}

// bucketReply is the script's reply for one bucket: admitted or not, and
// its debt before the take in milliseconds.
func bucketReply(eval bool, allowed bool, debtMillis int64) fakeReply {
	verb, a := "EVALSHA", 0
	if eval {
		verb = "EVAL"
	}
	if allowed {
		a = 1
	}
	return fakeReply{status: 200, body: fmt.Sprintf(`{"%s":[%d,%d,%d,0]}`, verb, a, debtMillis/1000, debtMillis%1000*1e6)}
}

// sharedDemand asks the shared bucket of 5 tokens a minute (12 s a
// token) for tokens.
func sharedDemand(tokens int64) bucket.Demand {
	return bucket.Demand{Bucket: bucket.Bucket{Kind: bucket.KindShared,
		Limit: bucket.Limit{MaxTokens: 5, RefillPeriod: time.Minute}}, Tokens: tokens}
}

func TestRejectionsRepeated(t *testing.T) {
	// step is one take: after the clock moves by after, tokens asked of
	// the shared bucket, decided by Redis (called) or by the record.
	type step struct {
		after      time.Duration
		tokens     int64
		called     bool
		allowed    bool
		retryAfter time.Duration // checked when !allowed
	}
	tests := []struct {
		name    string
		ttl     time.Duration
		replies []fakeReply
		steps   []step
	}{{
		name: "until the record expires, less the time since the call",
		ttl:  time.Second,
		// A full bucket (60 s of debt): a token is 12 s away.
		replies: []fakeReply{bucketReply(true, false, 60_000), bucketReply(false, false, 59_000)},
		steps: []step{
			{tokens: 1, called: true, retryAfter: 12 * time.Second},
			{after: 10 * time.Millisecond, tokens: 1, retryAfter: 12*time.Second - 10*time.Millisecond},
			{after: 989 * time.Millisecond, tokens: 1, retryAfter: 11*time.Second + time.Millisecond},
			// One second after the call that learnt it: Redis again.
			{after: time.Millisecond, tokens: 1, called: true, retryAfter: 11 * time.Second},
		},
	}, {
		name: "until its Retry-After has passed",
		ttl:  time.Second,
		// 48.3 s of debt: a token is 300 ms away.
		replies: []fakeReply{bucketReply(true, false, 48_300), bucketReply(false, true, 48_000)},
		steps: []step{
			{tokens: 1, called: true, retryAfter: 300 * time.Millisecond},
			{after: 299 * time.Millisecond, tokens: 1, retryAfter: time.Millisecond},
			{after: time.Millisecond, tokens: 1, called: true, allowed: true},
		},
	}, {
		name:    "another take is not the same",
		ttl:     time.Second,
		replies: []fakeReply{bucketReply(true, false, 40_000), bucketReply(false, true, 40_000)},
		steps: []step{
			{tokens: 2, called: true, retryAfter: 4 * time.Second},
			{after: time.Millisecond, tokens: 1, called: true, allowed: true},
		},
	}, {
		name:    "admissions are not recorded",
		ttl:     time.Second,
		replies: []fakeReply{bucketReply(true, true, 48_000), bucketReply(false, false, 60_000)},
		steps: []step{
			{tokens: 1, called: true, allowed: true},
			{tokens: 1, called: true, retryAfter: 12 * time.Second},
		},
	}, {
		name:    "0 turns the record off",
		ttl:     0,
		replies: []fakeReply{bucketReply(true, false, 60_000), bucketReply(false, false, 60_000)},
		steps: []step{
			{tokens: 1, called: true, retryAfter: 12 * time.Second},
			{tokens: 1, called: true, retryAfter: 12 * time.Second},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, tr, rec, clock := newRecordingLimiter(t, tt.ttl, tt.replies...)
			local := 0
			for i, s := range tt.steps {
				clock.now = clock.now.Add(s.after)
				posts := len(tr.bodies)
				d := takeAt(t, l, clock.now, sharedDemand(s.tokens))
				if called := len(tr.bodies) > posts; called != s.called {
					t.Fatalf("step %d: called Redis %t, want %t", i, called, s.called)
				}
				if !s.called {
					local++
				}
				if d.Allowed != s.allowed || !s.allowed && (d.RetryAfter != s.retryAfter || d.Tightest.ResetAfter < d.RetryAfter ||
					d.Rejected != bucket.KindsOf(bucket.KindShared)) {
					t.Fatalf("step %d: %+v; want allowed %t, Retry-After %v, the shared bucket rejecting", i, d, s.allowed, s.retryAfter)
				}
			}
			if rec.local != local || rec.decided != len(tt.replies) {
				t.Errorf("observer: %d local rejections, %d decisions; want %d, %d", rec.local, rec.decided, local, len(tt.replies))
			}
			if len(tr.replies) != 0 {
				t.Errorf("%d scripted replies left", len(tr.replies))
			}
		})
	}
}

// TestRejectionsWithQuotasAndCaps: a quota's rejection is repeated within
// its window; a take with a concurrency cap is not recorded.
func TestRejectionsWithQuotasAndCaps(t *testing.T) {
	q := quotaDemand(bucket.KindShared, 1, 2, "UTC")
	start := time.Unix(1_800_000_000, 0)
	_, end := q.Quota.Window(start)
	_, nextEnd := q.Quota.Window(end.Add(time.Second))
	endMs, nextEndMs := strconv.FormatInt(end.UnixMilli(), 10), strconv.FormatInt(nextEnd.UnixMilli(), 10)

	t.Run("quota", func(t *testing.T) {
		l, tr, rec, clock := newRecordingLimiter(t, time.Second,
			// Two calls counted: the quota of 2 rejects.
			fakeReply{status: 200, body: `{"EVAL":[0,2,` + endMs + `]}`},
			fakeReply{status: 200, body: `{"EVALSHA":[0,2,` + nextEndMs + `]}`},
		)
		if d := takeAt(t, l, clock.now, q); d.Allowed || !d.QuotaExceeded {
			t.Fatalf("first take: %+v", d)
		}
		clock.now = clock.now.Add(100 * time.Millisecond)
		d := takeAt(t, l, clock.now, q)
		if d.Allowed || !d.QuotaExceeded || d.RetryAfter != end.Sub(clock.now) || len(tr.bodies) != 1 || rec.local != 1 {
			t.Fatalf("second take: %+v after %d calls, %d local; want the rejection repeated with Retry-After %v",
				d, len(tr.bodies), rec.local, end.Sub(clock.now))
		}
		// The caller's clock in the next window: another take.
		if d := takeAt(t, l, end.Add(time.Second), q); d.Allowed || len(tr.bodies) != 2 {
			t.Fatalf("take of the next window: %+v after %d calls; want Redis asked", d, len(tr.bodies))
		}
	})

	t.Run("cap", func(t *testing.T) {
		c := capDemand(bucket.KindShared, 1, 1)
		l, tr, rec, clock := newRecordingLimiter(t, time.Second,
			// A free cap and a full bucket, twice.
			fakeReply{status: 200, body: `{"EVAL":[0,0,60,0,0]}`},
			fakeReply{status: 200, body: `{"EVALSHA":[0,0,60,0,0]}`},
		)
		for i := range 2 {
			if d := takeAt(t, l, clock.now, c, sharedDemand(1)); d.Allowed || len(tr.bodies) != i+1 || rec.local != 0 {
				t.Fatalf("take %d: %+v after %d calls, %d local; want each decided by Redis", i, d, len(tr.bodies), rec.local)
			}
		}
	})
}

// TestRejectionsBounded: a full record starts again.
func TestRejectionsBounded(t *testing.T) {
	n := maxRejections + 1
	replies := []fakeReply{}
	for i := range n + 1 {
		replies = append(replies, bucketReply(i == 0, false, 60_000))
	}
	l, tr, rec, clock := newRecordingLimiter(t, time.Second, replies...)
	user := func(i int) bucket.Demand {
		return bucket.Demand{Bucket: bucket.Bucket{Kind: bucket.KindUser, User: "user-" + strconv.Itoa(i),
			Limit: bucket.Limit{MaxTokens: 5, RefillPeriod: time.Minute}}, Tokens: 1}
	}
	for i := range maxRejections {
		takeAt(t, l, clock.now, user(i))
	}
	if got := len(l.rejected.takes); got != maxRejections {
		t.Fatalf("%d takes recorded, want %d", got, maxRejections)
	}
	takeAt(t, l, clock.now, user(maxRejections-1))
	if rec.local != 1 {
		t.Fatalf("%d local rejections; want the last user's repeated", rec.local)
	}
	// One more starts the record again: the first user asks Redis.
	takeAt(t, l, clock.now, user(maxRejections))
	takeAt(t, l, clock.now, user(0))
	if got := len(l.rejected.takes); got != 2 || len(tr.bodies) != maxRejections+2 || rec.local != 1 {
		t.Fatalf("%d takes recorded after %d calls, %d local; want 2 recorded, user 0 asking Redis again", got, len(tr.bodies), rec.local)
	}
}

// TestRejectionsKeepTheirOwnNames: a repeated rejection names its bucket
// although the caller reused the memory of the name.
func TestRejectionsKeepTheirOwnNames(t *testing.T) {
	l, _, rec, clock := newRecordingLimiter(t, time.Second, bucketReply(true, false, 60_000))
	name := []byte("alice")
	d := sharedDemand(1)
	d.Bucket.Kind, d.Bucket.User = bucket.KindUser, unsafe.String(&name[0], len(name))
	takeAt(t, l, clock.now, d)
	copy(name, "bobby")
	d.Bucket.User = "alice"
	got := takeAt(t, l, clock.now, d)
	if got.Allowed || rec.local != 1 || got.Tightest.Bucket.User != "alice" {
		t.Fatalf("alice again: %+v, %d local; want the rejection of alice's bucket repeated", got, rec.local)
	}
}

// TestRepeatedRejectionsAgreeWithRedis runs random takes of three buckets
// through a real webdis and Redis with the record on. Every take the
// record rejects is sent again by a limiter without a record: Redis must
// reject it too, its tightest bucket among the rejecting ones (others may
// have emptied or refilled since), with a Retry-After no shorter than the
// record's less the time between the two.
func TestRepeatedRejectionsAgreeWithRedis(t *testing.T) {
	r := redistest.StartRedis(t)
	w := redistest.StartWebdis(t, r.Port)
	rec := &recorder{}
	l, err := NewLimiter(Options{Transport: newHTTPTransport(w), Namespace: "record", KeyPrefix: "t",
		Timeout: 5 * time.Second, FailureMode: FailClosed, Clock: time.Now, Observer: rec, RejectLocallyFor: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	check := webdisLimiter(t, w, "record")
	buckets := []bucket.Demand{
		demand(bucket.KindShared, 1, 3, 2*time.Second),
		demand(bucket.KindTool, 1, 5, 3*time.Second),
		demand(bucket.KindUser, 1, 2, 700*time.Millisecond),
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const takes = 400
	local, admitted := 0, 0
	for i := range takes {
		time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
		var demands []bucket.Demand
		for j, b := range buckets {
			if rng.IntN(2) == 0 || j == len(buckets)-1 && len(demands) == 0 {
				b.Tokens = 1 + rng.Int64N(2)
				demands = append(demands, b)
			}
		}
		before := rec.local
		d := mustTake(t, l, demands)
		if d.Allowed {
			admitted++
		}
		if rec.local == before {
			continue
		}
		local++
		at := time.Now()
		want := mustTake(t, check, demands)
		between := time.Since(at)
		if want.Allowed || !want.Rejected.Has(d.Tightest.Bucket.Kind) || d.RetryAfter > want.RetryAfter+between+time.Millisecond {
			t.Fatalf("take %d %+v: rejected locally\n %+v\nRedis decided\n %+v", i, demands, d, want)
		}
	}
	if local == 0 || admitted == 0 || rec.decided+rec.local != takes {
		t.Errorf("%d takes: %d rejected locally, %d admitted, %d decided by Redis; want some of each, every take decided once",
			takes, local, admitted, rec.decided)
	}
	t.Logf("%d takes: %d decided by Redis (%d admitted), %d rejected locally", takes, rec.decided, admitted, local)
}
