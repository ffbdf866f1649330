package bucket_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
)

func capDemand(kind bucket.Kind, name, user string, max int64) bucket.Demand {
	return bucket.Demand{Bucket: bucket.Bucket{Kind: kind, Tool: name, User: user}, Tokens: 1, MaxInFlight: max}
}

func TestCapHoldsUntilRelease(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{MaxTrackedUsers: 8})
	demand := []bucket.Demand{capDemand(bucket.KindShared, "", "", 2)}
	first, second := take(t, l, t0, demand), take(t, l, t0, demand)
	if !first.Allowed || !second.Allowed || first.Lease.Empty() {
		t.Fatalf("first two calls: %+v %+v", first, second)
	}
	d := take(t, l, t0, demand)
	if d.Allowed || !d.ConcurrencyExceeded || d.RetryAfter != 0 || d.Rejected != bucket.KindsOf(bucket.KindShared) {
		t.Fatalf("third call: %+v, want a concurrency rejection without a wait", d)
	}
	l.Release(first.Lease)
	if d := take(t, l, t0, demand); !d.Allowed {
		t.Fatalf("after a release: %+v", d)
	}
	l.Release(first.Lease) // twice: a no-op
	l.Release(nil)
	l.Renew(t0, nil)
	if d := take(t, l, t0, demand); d.Allowed {
		t.Fatal("a double release freed a second place")
	}
}

func TestCapLeaseExpiresUnlessRenewed(t *testing.T) {
	tests := []struct {
		name    string
		renewAt []time.Duration // renewals of the held lease
		at      time.Duration   // when another call comes
		allowed bool
	}{
		{"held within its lifetime", nil, 29 * time.Second, false},
		{"freed after its lifetime", nil, 30 * time.Second, true},
		{"renewed: held", []time.Duration{20 * time.Second}, 49 * time.Second, false},
		{"renewed: freed 30s after the last renewal", []time.Duration{20 * time.Second, 40 * time.Second}, 70 * time.Second, true},
		{"a renewal after expiry does not revive it", []time.Duration{31 * time.Second}, 32 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{LeaseTTL: 30 * time.Second})
			demand := []bucket.Demand{capDemand(bucket.KindTool, "slow", "", 1)}
			held := take(t, l, t0, demand)
			if !held.Allowed {
				t.Fatalf("first call: %+v", held)
			}
			for _, at := range tt.renewAt {
				l.Renew(t0.Add(at), held.Lease)
			}
			if d := take(t, l, t0.Add(tt.at), demand); d.Allowed != tt.allowed {
				t.Fatalf("call at +%v: allowed %t, want %t", tt.at, d.Allowed, tt.allowed)
			}
		})
	}
}

func TestCapIsAllOrNothingWithBucketsAndQuotas(t *testing.T) {
	// Leases outlive the hour the bucket takes to refill.
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{MaxTrackedUsers: 8, LeaseTTL: 2 * time.Hour})
	capOnly := []bucket.Demand{capDemand(bucket.KindUser, "", "alice", 1)}
	b := shared(limit(1, time.Hour))
	q := bucket.Quota{MaxCalls: 2, Period: bucket.PeriodDay}
	all := append(append([]bucket.Demand{}, capOnly...), bucket.Demand{Bucket: b, Tokens: 1}, quotaDemand(bucket.KindShared, "", "", q))
	first := take(t, l, t0, all)
	if !first.Allowed {
		t.Fatalf("first call: %+v", first)
	}
	l.Release(first.Lease)
	// The bucket is empty: the call is rejected, and neither the cap nor
	// the quota keeps anything of it.
	if d := take(t, l, t0, all); d.Allowed || d.ConcurrencyExceeded || d.QuotaExceeded {
		t.Fatalf("second call: %+v, want the bucket's rejection", d)
	}
	held := take(t, l, t0, capOnly)
	if !held.Allowed {
		t.Fatalf("the bucket's rejection kept alice's place: %+v", held)
	}
	// The cap is full: the call is rejected and takes neither the token
	// (refilled by now) nor a quota count.
	later := t0.Add(time.Hour)
	if d := take(t, l, later, all); d.Allowed || !d.ConcurrencyExceeded {
		t.Fatalf("third call: %+v, want the cap's rejection", d)
	}
	l.Release(held.Lease)
	if d := take(t, l, later, all); !d.Allowed {
		t.Fatalf("fourth call: %+v (the cap's rejection took a token or a count)", d)
	}
}

func TestCapsPerUserAndPerName(t *testing.T) {
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{MaxTrackedUsers: 2})
	for _, d := range []bucket.Demand{
		capDemand(bucket.KindUser, "", "alice", 1),
		capDemand(bucket.KindUser, "", "bob", 1),
		capDemand(bucket.KindUserTool, "a", "alice", 1),
		capDemand(bucket.KindTool, "a", "", 1),
		capDemand(bucket.KindMethod, "a", "", 1),
	} {
		if got := take(t, l, t0, []bucket.Demand{d}); !got.Allowed {
			t.Fatalf("%+v: first call rejected", d.Bucket)
		}
		if got := take(t, l, t0, []bucket.Demand{d}); got.Allowed {
			t.Fatalf("%+v: second call admitted", d.Bucket)
		}
	}
	// The table of two is held by alice and bob: carol shares the
	// overflow cap, never runs unlimited.
	carol := []bucket.Demand{capDemand(bucket.KindUser, "", "carol", 1)}
	if d := take(t, l, t0, carol); !d.Allowed {
		t.Fatalf("carol: %+v", d)
	}
	if d := take(t, l, t0, []bucket.Demand{capDemand(bucket.KindUser, "", "dave", 1)}); d.Allowed {
		t.Fatal("dave was admitted beside carol in the overflow cap")
	}
}

func TestCapIsExactUnderRacingWorkers(t *testing.T) {
	store := buckettest.NewMemoryStore()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newLimiter(t, store, bucket.Options{MaxTrackedUsers: 4, MaxAttempts: 1000})
			for range 10 {
				d, err := tryTake(t, l, t0, []bucket.Demand{
					capDemand(bucket.KindShared, "", "", 13),
					capDemand(bucket.KindUser, "", "alice", 1000),
				})
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
	if got := admitted.Load(); got != 13 {
		t.Errorf("%d calls in flight, want exactly the cap of 13", got)
	}
}

func TestUserLeavingTheOverflowCapKeepsItsCalls(t *testing.T) {
	// One slot, one call per user: alice starts a call while victor holds
	// the slot (her lease goes to the overflow cap); victor's call ends.
	l := newLimiter(t, buckettest.NewMemoryStore(), bucket.Options{MaxTrackedUsers: 1, LeaseTTL: time.Hour})
	capOf := func(who string) []bucket.Demand { return []bucket.Demand{capDemand(bucket.KindUser, "", who, 1)} }
	victor := take(t, l, t0, capOf("victor"))
	alice := take(t, l, t0, capOf("alice"))
	if !victor.Allowed || !alice.Allowed {
		t.Fatalf("victor %+v, alice %+v", victor, alice)
	}
	l.Release(victor.Lease)
	if d := take(t, l, t0, capOf("alice")); d.Allowed {
		t.Fatalf("alice's second call in flight admitted on the freed slot: %+v", d)
	}
	// Her overflow lease does not count against another user.
	bob := take(t, l, t0, capOf("bob"))
	if !bob.Allowed {
		t.Fatalf("bob: %+v", bob)
	}
	l.Release(bob.Lease)
	l.Release(alice.Lease)
	if d := take(t, l, t0, capOf("alice")); !d.Allowed {
		t.Fatalf("alice after her call ended: %+v", d)
	}
}

func TestCapSlotWriteSeesAnOverflowLeaseAddedMeanwhile(t *testing.T) {
	opts := bucket.Options{Namespace: "ns", MaxTrackedUsers: 1, LeaseTTL: time.Hour}
	capOf := func(who string) []bucket.Demand { return []bucket.Demand{capDemand(bucket.KindUser, "", who, 1)} }
	// The overflow cap as a call of alice leaves it when victor holds the
	// only slot.
	overflowKey, overflowValue := overflowWhenFull(t, opts, "inflight", capOf)
	// Here alice claims the free slot (Y); before Y's write, another call
	// of alice (X, which found the slot busy) adds its overflow lease.
	store := buckettest.NewMemoryStore()
	y := newLimiter(t, store, opts)
	held := take(t, y, t0, capOf("victor"))
	y.Release(held.Lease)
	slots := keysWith(store, "/inflight/", "/slot/")
	if len(slots) != 1 {
		t.Fatalf("slot keys: %v", slots)
	}
	store.SetHook(onceHook(isSet(slots[0]), func() {
		if err := store.Set(overflowKey, overflowValue, 0); err != nil {
			t.Errorf("write overflow: %v", err)
		}
	}))
	d := take(t, y, t0, capOf("alice"))
	store.SetHook(nil)
	if d.Allowed {
		t.Fatalf("alice's second call in flight admitted: %+v", d)
	}
	if !d.ConcurrencyExceeded {
		t.Fatalf("decision %+v, want a concurrency rejection", d)
	}
}
