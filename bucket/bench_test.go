package bucket_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
)

// BenchmarkTake measures one Take over the in-memory store (whose calls
// cost far less than Envoy's host calls: see the reads and writes per
// take reported). Run with: go test ./bucket/ -run '^$' -bench . -benchmem
func BenchmarkTake(b *testing.B) {
	lots := limit(1<<40, time.Second) // never runs empty
	users := make([]string, 10000)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
	}
	tests := []struct {
		name    string
		opts    bucket.Options
		demands func(i int) []bucket.Demand
	}{
		{"single bucket", bucket.Options{}, func(int) []bucket.Demand { return one(shared(lots)) }},
		{"four buckets", bucket.Options{MaxTrackedUsers: 10000}, func(int) []bucket.Demand {
			return one(shared(lots), tool("search", lots), user("alice", lots), userTool("alice", "search", lots))
		}},
		{"per user 10k users", bucket.Options{MaxTrackedUsers: 10000}, func(i int) []bucket.Demand {
			return one(shared(lots), user(users[i%len(users)], lots))
		}},
		{"per user 10k users 20k slots", bucket.Options{MaxTrackedUsers: 20000}, func(i int) []bucket.Demand {
			return one(shared(lots), user(users[i%len(users)], lots))
		}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			store := buckettest.NewMemoryStore()
			tt.opts.Namespace = "bench"
			l := newLimiter(b, store, tt.opts)
			// Warm up: every user has its slot.
			for i := range len(users) {
				take(b, l, t0, tt.demands(i))
			}
			gets0, sets0 := store.Counts()
			now := t0
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Microsecond)
				var d bucket.Decision
				l.Take(now, tt.demands(i), bucket.DecisionFunc(func(dd bucket.Decision, err error) {
					if err != nil {
						b.Fatal(err)
					}
					d = dd
				}))
				if !d.Allowed {
					b.Fatalf("rejected: %+v", d)
				}
				i++
			}
			gets, sets := store.Counts()
			b.ReportMetric(float64(gets-gets0)/float64(i), "gets/op")
			b.ReportMetric(float64(sets-sets0)/float64(i), "sets/op")
		})
	}
}

// BenchmarkLimitTake measures the arithmetic alone.
func BenchmarkLimitTake(b *testing.B) {
	l := limit(7, time.Minute)
	var s bucket.State
	now := t0.UnixNano()
	b.ReportAllocs()
	for b.Loop() {
		now += int64(time.Second)
		out, err := l.Take(s, now, 1)
		if err != nil {
			b.Fatal(err)
		}
		if out.Allowed {
			s = out.Next
		}
	}
}
