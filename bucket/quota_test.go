package bucket_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s: %v", name, err)
	}
	return loc
}

func TestQuotaWindow(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	berlin := mustZone(t, "Europe/Berlin")
	kolkata := mustZone(t, "Asia/Kolkata")
	tests := []struct {
		name       string
		period     bucket.Period
		loc        *time.Location
		now        time.Time
		start, end time.Time
		length     time.Duration
	}{
		{"UTC day", bucket.PeriodDay, nil, time.Date(2026, 5, 17, 13, 0, 0, 0, time.UTC),
			time.Date(2026, 5, 17, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 18, 0, 0, 0, 0, time.UTC), 24 * time.Hour},
		{"last instant of a UTC day", bucket.PeriodDay, nil, time.Date(2026, 5, 17, 23, 59, 59, 999999999, time.UTC),
			time.Date(2026, 5, 17, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 18, 0, 0, 0, 0, time.UTC), 24 * time.Hour},
		{"New York day of the spring change (23h)", bucket.PeriodDay, ny, time.Date(2026, 3, 8, 12, 0, 0, 0, ny),
			time.Date(2026, 3, 8, 0, 0, 0, 0, ny), time.Date(2026, 3, 9, 0, 0, 0, 0, ny), 23 * time.Hour},
		{"New York day of the autumn change (25h)", bucket.PeriodDay, ny, time.Date(2026, 11, 1, 12, 0, 0, 0, ny),
			time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2026, 11, 2, 0, 0, 0, 0, ny), 25 * time.Hour},
		{"New York: 03:30 UTC is 23:30 the day before", bucket.PeriodDay, ny,
			time.Date(2026, 7, 2, 3, 30, 0, 0, time.UTC),
			time.Date(2026, 7, 1, 0, 0, 0, 0, ny), time.Date(2026, 7, 2, 0, 0, 0, 0, ny), 24 * time.Hour},
		{"Kolkata day (UTC+5:30)", bucket.PeriodDay, kolkata, time.Date(2026, 1, 1, 20, 0, 0, 0, time.UTC),
			time.Date(2026, 1, 2, 0, 0, 0, 0, kolkata), time.Date(2026, 1, 3, 0, 0, 0, 0, kolkata), 24 * time.Hour},
		{"Berlin week across the spring change", bucket.PeriodWeek, berlin, time.Date(2026, 3, 29, 12, 0, 0, 0, berlin), // a Sunday
			time.Date(2026, 3, 23, 0, 0, 0, 0, berlin), time.Date(2026, 3, 30, 0, 0, 0, 0, berlin), 7*24*time.Hour - time.Hour},
		{"week starting on its Monday", bucket.PeriodWeek, nil, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 8, 0, 0, 0, 0, time.UTC), 7 * 24 * time.Hour},
		{"December", bucket.PeriodMonth, nil, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC),
			time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 31 * 24 * time.Hour},
		{"New York March (one hour short)", bucket.PeriodMonth, ny, time.Date(2026, 3, 15, 0, 0, 0, 0, ny),
			time.Date(2026, 3, 1, 0, 0, 0, 0, ny), time.Date(2026, 4, 1, 0, 0, 0, 0, ny), 31*24*time.Hour - time.Hour},
		{"Havana day starting at the 00:00 jump to summer time", bucket.PeriodDay, mustZone(t, "America/Havana"),
			time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC), 23 * time.Hour},
		{"Havana day before the jump", bucket.PeriodDay, mustZone(t, "America/Havana"),
			time.Date(2026, 3, 8, 4, 30, 0, 0, time.UTC),
			time.Date(2026, 3, 7, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC), 24 * time.Hour},
		{"Samoa day before the skipped 30 December 2011", bucket.PeriodDay, mustZone(t, "Pacific/Apia"),
			time.Date(2011, 12, 29, 12, 0, 0, 0, time.UTC),
			time.Date(2011, 12, 29, 10, 0, 0, 0, time.UTC), time.Date(2011, 12, 30, 10, 0, 0, 0, time.UTC), 24 * time.Hour},
		{"February of a leap year", bucket.PeriodMonth, nil, time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC),
			time.Date(2028, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), 29 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := bucket.Quota{MaxCalls: 1, Period: tt.period, Location: tt.loc}
			start, end := q.Window(tt.now)
			if !start.Equal(tt.start) || !end.Equal(tt.end) {
				t.Errorf("Window(%v) = [%v, %v), want [%v, %v)", tt.now, start, end, tt.start, tt.end)
			}
			if got := end.Sub(start); got != tt.length {
				t.Errorf("window length %v, want %v", got, tt.length)
			}
			if tt.now.Before(start) || !tt.now.Before(end) {
				t.Errorf("now %v outside its window", tt.now)
			}
		})
	}
}

func quotaDemand(kind bucket.Kind, name, user string, q bucket.Quota) bucket.Demand {
	return bucket.Demand{Bucket: bucket.Bucket{Kind: kind, Tool: name, User: user}, Tokens: 1, Quota: &q}
}

func TestQuotaCountsAndResetsAtTheBoundary(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{MaxTrackedUsers: 16})
	q := bucket.Quota{MaxCalls: 2, Period: bucket.PeriodDay, Location: ny}
	// 2026-03-07 22:00 in New York; the next local midnight is 2h away,
	// and the day after it is the 23-hour day of the spring change.
	now := time.Date(2026, 3, 7, 22, 0, 0, 0, ny)
	demand := []bucket.Demand{quotaDemand(bucket.KindShared, "", "", q)}
	for i := range 2 {
		if d := take(t, l, now, demand); !d.Allowed {
			t.Fatalf("call %d rejected: %+v", i+1, d)
		}
	}
	d := take(t, l, now, demand)
	if d.Allowed || !d.QuotaExceeded || d.RetryAfter != 2*time.Hour || d.Rejected != bucket.KindsOf(bucket.KindShared) {
		t.Fatalf("third call: %+v, want a quota rejection retrying after 2h", d)
	}
	if d := take(t, l, now.Add(2*time.Hour-time.Nanosecond), demand); d.Allowed || d.RetryAfter != time.Nanosecond {
		t.Fatalf("last instant of the day: %+v", d)
	}
	midnight := time.Date(2026, 3, 8, 0, 0, 0, 0, ny)
	for i := range 2 {
		if d := take(t, l, midnight, demand); !d.Allowed {
			t.Fatalf("call %d of the new day rejected: %+v", i+1, d)
		}
	}
	// The 8th has 23 hours: the next reset is 23h after its midnight.
	if d := take(t, l, midnight, demand); d.Allowed || d.RetryAfter != 23*time.Hour {
		t.Fatalf("third call of the short day: %+v, want a wait of 23h", d)
	}
}

func TestQuotaIsAllOrNothingWithBuckets(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{MaxTrackedUsers: 16})
	q := bucket.Quota{MaxCalls: 3, Period: bucket.PeriodMonth}
	b := shared(limit(1, time.Hour))
	demands := []bucket.Demand{quotaDemand(bucket.KindShared, "", "", q), {Bucket: b, Tokens: 1}}
	if d := take(t, l, t0, demands); !d.Allowed {
		t.Fatalf("first call: %+v", d)
	}
	// The bucket rejects the next calls: the quota must not count them.
	for i := range 5 {
		if d := take(t, l, t0, demands); d.Allowed || d.QuotaExceeded {
			t.Fatalf("call %d: %+v, want the bucket's rejection", i+2, d)
		}
	}
	later := t0.Add(time.Hour)
	if d := take(t, l, later, demands); !d.Allowed {
		t.Fatalf("second admitted call: %+v (the quota counted rejected calls)", d)
	}
	if d := take(t, l, later.Add(time.Hour), demands); !d.Allowed {
		t.Fatalf("third admitted call: %+v", d)
	}
	// The quota is spent: it rejects, and the bucket keeps its token.
	d := take(t, l, later.Add(2*time.Hour), demands)
	if d.Allowed || !d.QuotaExceeded {
		t.Fatalf("fourth call: %+v, want the quota's rejection", d)
	}
	if d := take(t, l, later.Add(2*time.Hour), []bucket.Demand{{Bucket: b, Tokens: 1}}); !d.Allowed {
		t.Fatalf("the quota's rejection took the bucket's token: %+v", d)
	}
}

func TestQuotasPerUserAndPerName(t *testing.T) {
	q := bucket.Quota{MaxCalls: 1, Period: bucket.PeriodWeek}
	tests := []struct {
		name    string
		tables  int
		demands [][]bucket.Demand // each must pass once, then be rejected
	}{
		{"users apart", 16, [][]bucket.Demand{
			{quotaDemand(bucket.KindUser, "", "alice", q)},
			{quotaDemand(bucket.KindUser, "", "bob", q)},
		}},
		{"tools apart", 16, [][]bucket.Demand{
			{quotaDemand(bucket.KindTool, "a", "", q)},
			{quotaDemand(bucket.KindTool, "b", "", q)},
			{quotaDemand(bucket.KindPrompt, "a", "", q)},
		}},
		{"users and tools apart", 16, [][]bucket.Demand{
			{quotaDemand(bucket.KindUserTool, "a", "alice", q)},
			{quotaDemand(bucket.KindUserTool, "b", "alice", q)},
			{quotaDemand(bucket.KindUserTool, "a", "bob", q)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{MaxTrackedUsers: tt.tables})
			for i, demands := range tt.demands {
				if d := take(t, l, t0, demands); !d.Allowed {
					t.Fatalf("demand %d: first call rejected: %+v", i, d)
				}
			}
			for i, demands := range tt.demands {
				if d := take(t, l, t0, demands); d.Allowed || !d.QuotaExceeded {
					t.Fatalf("demand %d: second call %+v, want a quota rejection", i, d)
				}
			}
		})
	}
}

func TestQuotaOfAFullTableOverflows(t *testing.T) {
	// One slot: alice holds it for the week; bob counts in the overflow
	// quota, then carol shares it with him.
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{MaxTrackedUsers: 1})
	q := bucket.Quota{MaxCalls: 1, Period: bucket.PeriodWeek}
	for _, who := range []string{"alice", "bob"} {
		if d := take(t, l, t0, []bucket.Demand{quotaDemand(bucket.KindUser, "", who, q)}); !d.Allowed {
			t.Fatalf("%s: %+v", who, d)
		}
	}
	if d := take(t, l, t0, []bucket.Demand{quotaDemand(bucket.KindUser, "", "carol", q)}); d.Allowed {
		t.Fatal("carol was admitted on the overflow quota bob spent")
	}
	// Next week alice's slot counts an earlier window: bob claims it.
	nextWeek := t0.Add(7 * 24 * time.Hour)
	if d := take(t, l, nextWeek, []bucket.Demand{quotaDemand(bucket.KindUser, "", "bob", q)}); !d.Allowed {
		t.Fatalf("bob next week: %+v", d)
	}
	if d := take(t, l, nextWeek, []bucket.Demand{quotaDemand(bucket.KindUser, "", "bob", q)}); d.Allowed {
		t.Fatal("bob's second call of the week was admitted")
	}
}

func TestQuotaIsExactUnderRacingWorkers(t *testing.T) {
	store := buckettest.NewMemoryStore()
	q := bucket.Quota{MaxCalls: 25, Period: bucket.PeriodDay}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newLimiter(t, store, bucket.Options{MaxTrackedUsers: 4, MaxAttempts: 1000})
			for range 10 {
				demands := []bucket.Demand{
					quotaDemand(bucket.KindShared, "", "", q),
					quotaDemand(bucket.KindUser, "", "alice", bucket.Quota{MaxCalls: 1000, Period: bucket.PeriodDay}),
					{Bucket: shared(limit(1000, time.Hour)), Tokens: 1},
				}
				d, err := tryTake(t, l, t0, demands)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := admitted.Load(); got != 25 {
		t.Errorf("admitted %d calls, want exactly the quota of 25", got)
	}
}

// FuzzQuotaWindow checks the calendar windows of arbitrary instants in
// zones with daylight-saving changes, half-hour offsets and skipped days:
// now lies in its window, the window is its own start's window, and the
// next window starts where it ends.
func FuzzQuotaWindow(f *testing.F) {
	zones := []string{"UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe",
		"Pacific/Apia", "America/Santiago", "Asia/Tehran", "Pacific/Chatham", "America/Havana"}
	f.Add(int64(1772953200), uint8(1), uint8(1))
	f.Add(int64(1325239200), uint8(5), uint8(1)) // Samoa skipped 30 December 2011
	f.Add(int64(1793487600), uint8(3), uint8(3))
	f.Fuzz(func(t *testing.T, unix int64, zone, period uint8) {
		if unix < 0 || unix > 4102444800 { // 1970 to 2100
			return
		}
		loc := mustZone(t, zones[int(zone)%len(zones)])
		q := bucket.Quota{MaxCalls: 1, Period: bucket.Period(1 + period%3), Location: loc}
		now := time.Unix(unix, 0)
		start, end := q.Window(now)
		if now.Before(start) || !now.Before(end) {
			t.Fatalf("%v in %s: window [%v, %v) does not hold it", now, loc, start, end)
		}
		if s, e := q.Window(start); !s.Equal(start) || !e.Equal(end) {
			t.Fatalf("%v in %s: the window of its start %v is [%v, %v), not [%v, %v)", now, loc, start, s, e, start, end)
		}
		if s, _ := q.Window(end); !s.Equal(end) {
			t.Fatalf("%v in %s: the next window starts at %v, not at the end %v", now, loc, s, end)
		}
		if end.Sub(start) > 32*24*time.Hour {
			t.Fatalf("%v in %s: window of %v", now, loc, end.Sub(start))
		}
	})
}

func TestQuotaClaimTakesOnAnOverflowCountWrittenDuringIt(t *testing.T) {
	q := bucket.Quota{MaxCalls: 1, Period: bucket.PeriodWeek}
	opts := bucket.Options{Namespace: "ns", MaxTrackedUsers: 1}
	lastWeek, now := t0.Add(-7*24*time.Hour), t0
	// The overflow value a take of alice writes when the only slot is
	// busy this week.
	overflowKey, overflowValue := overflowWhenFull(t, opts, "quota", func(who string) []bucket.Demand {
		return []bucket.Demand{quotaDemand(bucket.KindUser, "", who, q)}
	})

	// Here victor's slot counts last week, so alice's take (Y) claims it;
	// between Y's read of the overflow quota and Y's claim, another take
	// of alice (X) counts in the overflow quota, as it did above.
	store := buckettest.NewMemoryStore()
	y := newLimiter(t, store, opts)
	if d := take(t, y, lastWeek, []bucket.Demand{quotaDemand(bucket.KindUser, "", "victor", q)}); !d.Allowed {
		t.Fatalf("victor: %+v", d)
	}
	slots := keysWith(store, "/quota/", "/slot/")
	if len(slots) != 1 {
		t.Fatalf("slot keys: %v", slots)
	}
	store.SetHook(onceHook(isSet(slots[0]), func() {
		if err := store.Set(overflowKey, overflowValue, 0); err != nil {
			t.Errorf("write overflow: %v", err)
		}
	}))
	d := take(t, y, now, []bucket.Demand{quotaDemand(bucket.KindUser, "", "alice", q)})
	store.SetHook(nil)
	if d.Allowed {
		t.Fatalf("alice's second call of the week was admitted on a claimed slot: %+v", d)
	}
	if s := y.Stats(); s.ClaimsSettled != 1 {
		t.Fatalf("stats %+v, want one settled claim", s)
	}
	// The claim stays alice's, with the count she already has this week.
	if d := take(t, y, now, []bucket.Demand{quotaDemand(bucket.KindUser, "", "alice", q)}); d.Allowed || d.Overflowed {
		t.Fatalf("alice again: %+v", d)
	}
}

func TestQuotaWindowsOnlyMoveForward(t *testing.T) {
	q := bucket.Quota{MaxCalls: 1, Period: bucket.PeriodDay}
	midnight := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		demand bucket.Demand
	}{
		{"shared", quotaDemand(bucket.KindShared, "", "", q)},
		{"per user", quotaDemand(bucket.KindUser, "", "alice", q)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := buckettest.NewMemoryStore()
			ahead := newLimiter(t, store, bucket.Options{MaxTrackedUsers: 8})
			behind := newLimiter(t, store, bucket.Options{MaxTrackedUsers: 8})
			// A worker whose clock has crossed midnight counts the first
			// call of the new day; a worker 2ms behind counts in that day
			// too, instead of resetting the count to the day before.
			if d := take(t, ahead, midnight.Add(time.Millisecond), []bucket.Demand{tt.demand}); !d.Allowed {
				t.Fatalf("first call of the day: %+v", d)
			}
			d := take(t, behind, midnight.Add(-time.Millisecond), []bucket.Demand{tt.demand})
			if d.Allowed || !d.QuotaExceeded {
				t.Fatalf("call from a clock 2ms behind: %+v, want the new day's quota spent", d)
			}
			if want := 24*time.Hour + time.Millisecond; d.RetryAfter != want {
				t.Fatalf("RetryAfter %v, want %v (until the end of the new day)", d.RetryAfter, want)
			}
			if d := take(t, ahead, midnight.Add(time.Second), []bucket.Demand{tt.demand}); d.Allowed {
				t.Fatalf("second call of the day admitted: %+v", d)
			}
		})
	}
}

func TestQuotaIgnoresAWindowFarAhead(t *testing.T) {
	q := bucket.Quota{MaxCalls: 1, Period: bucket.PeriodDay}
	store := buckettest.NewMemoryStore()
	wrong := newLimiter(t, store, bucket.Options{})
	right := newLimiter(t, store, bucket.Options{})
	demand := []bucket.Demand{quotaDemand(bucket.KindShared, "", "", q)}
	// A worker whose clock is a year ahead spends its "day"; the others,
	// on the right day, are not bound by it.
	if d := take(t, wrong, t0.AddDate(1, 0, 0), demand); !d.Allowed {
		t.Fatalf("call from a clock a year ahead: %+v", d)
	}
	if d := take(t, right, t0, demand); !d.Allowed {
		t.Fatalf("call on the right day after a clock far ahead: %+v", d)
	}
	if d := take(t, right, t0, demand); d.Allowed {
		t.Fatalf("second call of the right day admitted: %+v", d)
	}
}
