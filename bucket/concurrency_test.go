package bucket_test

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
)

// yieldingStore returns a store that yields the processor before every
// operation, so that goroutines interleave between any two store calls.
func yieldingStore() *buckettest.MemoryStore {
	store := buckettest.NewMemoryStore()
	store.SetHook(func(buckettest.Op) error {
		runtime.Gosched()
		return nil
	})
	return store
}

// TestConcurrentWorkersAdmitExactlyCapacity runs workers (each its own
// limiter, as each Envoy worker has its own VM) in parallel on one store
// with a frozen clock: the calls admitted never exceed the tightest
// bucket's capacity, and no token is lost: what the concurrent phase left
// is exactly what a sequential drain finds.
func TestConcurrentWorkersAdmitExactlyCapacity(t *testing.T) {
	lim := func(n int64) bucket.Limit { return limit(n, time.Hour) }
	tests := []struct {
		name     string
		demands  func(worker int) []bucket.Demand
		capacity int
	}{
		{"one bucket", func(int) []bucket.Demand { return one(shared(lim(50))) }, 50},
		{"shared and tool", func(int) []bucket.Demand { return one(shared(lim(60)), tool("t", lim(40))) }, 40},
		{"four buckets of one user", func(int) []bucket.Demand {
			return one(shared(lim(100)), tool("t", lim(80)), user("u", lim(60)), userTool("u", "t", lim(50)))
		}, 50},
		{"tool buckets in both orders", func(w int) []bucket.Demand {
			if w%2 == 0 {
				return one(tool("a", lim(30)), tool("b", lim(45)))
			}
			return one(tool("b", lim(45)), tool("a", lim(30)))
		}, 30},
		{"batches of two", func(int) []bucket.Demand {
			return []bucket.Demand{{Bucket: shared(lim(41)), Tokens: 2}, {Bucket: user("u", lim(60)), Tokens: 2}}
		}, 20},
	}
	const workers, rounds = 8, 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range rounds {
				store := yieldingStore()
				opts := bucket.Options{Namespace: "ns", MaxTrackedUsers: 16, MaxAttempts: 1000}
				var admitted, conflicts, contended atomic.Int64
				var wg sync.WaitGroup
				for w := range workers {
					l := newLimiter(t, store, opts)
					wg.Go(func() {
						for range 2 * tt.capacity / workers * 2 {
							d, err := tryTake(t, l, t0, tt.demands(w))
							if err != nil {
								t.Errorf("worker %d: %v", w, err)
								return
							}
							if d.Allowed {
								admitted.Add(1)
							}
						}
						s := l.Stats()
						conflicts.Add(int64(s.Conflicts))
						contended.Add(int64(s.Contended))
						if s.RefundsAbandoned != 0 {
							t.Errorf("worker %d abandoned refunds: %+v", w, s)
						}
					})
				}
				wg.Wait()
				if got := int(admitted.Load()); got > tt.capacity {
					t.Fatalf("round %d: admitted %d > capacity %d", round, got, tt.capacity)
				}
				drain := newLimiter(t, store, opts)
				left := 0
				for take(t, drain, t0, tt.demands(0)).Allowed {
					left++
				}
				if got := int(admitted.Load()) + left; got != tt.capacity {
					t.Fatalf("round %d: admitted %d + left %d != capacity %d (a token was lost)",
						round, admitted.Load(), left, tt.capacity)
				}
				t.Logf("round %d: %d conflicts, %d contended", round, conflicts.Load(), contended.Load())
			}
		})
	}
}

// admission is one admitted take, for the window checks.
type admission struct {
	now     time.Time
	demands []bucket.Demand
}

// checkWindows fails when any logical bucket (per user for per-user
// buckets) admitted, over some window of take times [a, b], more than its
// capacity plus its refill over b-a.
func checkWindows(t *testing.T, log []admission) {
	t.Helper()
	type use struct {
		at     int64
		tokens int64
	}
	uses := map[bucket.Bucket][]use{}
	for _, a := range log {
		for _, d := range a.demands {
			b := d.Bucket
			if b.Kind == bucket.KindShared || b.Kind == bucket.KindUser {
				b.Tool = ""
			}
			uses[b] = append(uses[b], use{a.now.UnixNano(), d.Tokens})
		}
	}
	for b, list := range uses {
		slices.SortFunc(list, func(x, y use) int { return int(x.at - y.at) })
		for i := range list {
			var sum int64
			for j := i; j < len(list); j++ {
				sum += list[j].tokens
				// bound = MaxTokens + window*MaxTokens/RefillPeriod.
				hi, lo := bits.Mul64(uint64(list[j].at-list[i].at), uint64(b.Limit.MaxTokens))
				if hi >= uint64(b.Limit.RefillPeriod) {
					t.Fatalf("window too long for the check")
				}
				refill, _ := bits.Div64(hi, lo, uint64(b.Limit.RefillPeriod))
				bound := refill + uint64(b.Limit.MaxTokens)
				if uint64(sum) > bound {
					t.Fatalf("%s bucket (tool %q, user %q, %+v) admitted %d tokens in %v, bound %v",
						b.Kind, b.Tool, b.User, b.Limit, sum, time.Duration(list[j].at-list[i].at), bound)
				}
			}
		}
	}
}

// TestConcurrentUsersStayWithinLimits runs workers in parallel, many
// users and a small user table (so that users are evicted, claim slots
// and overflow), and checks every bucket of every user over every window.
// The clock moves in rounds: in each, every worker makes one take at the
// round's time minus up to 20ms (workers read the clock at different
// moments; the skew stays below Options.ReclaimGrace, as in Envoy).
func TestConcurrentUsersStayWithinLimits(t *testing.T) {
	store := yieldingStore()
	opts := bucket.Options{Namespace: "ns", MaxTrackedUsers: 6, Probes: 4}
	const workers, rounds = 8, 300
	limiters := make([]*bucket.StoreLimiter, workers)
	rngs := make([]*rand.Rand, workers)
	for w := range workers {
		limiters[w] = newLimiter(t, store, opts)
		rngs[w] = rand.New(rand.NewPCG(uint64(w), 7))
	}
	var mu sync.Mutex
	var log []admission
	var clock time.Duration
	for range rounds {
		clock += time.Duration(rngs[0].Int64N(int64(40 * time.Millisecond)))
		var wg sync.WaitGroup
		for w := range workers {
			rng := rngs[w]
			now := t0.Add(clock - time.Duration(rng.Int64N(int64(20*time.Millisecond))))
			demands := randomDemands(rng, 12)
			wg.Go(func() {
				d, err := tryTake(t, limiters[w], now, demands)
				if err != nil {
					t.Errorf("take: %v", err)
					return
				}
				if d.Allowed {
					mu.Lock()
					log = append(log, admission{now, demands})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	if len(log) < 100 {
		t.Fatalf("only %d takes admitted: the test exercises nothing", len(log))
	}
	var claims, overflowed uint64
	for _, l := range limiters {
		claims += l.Stats().SlotClaims
		overflowed += l.Stats().Overflowed
	}
	if claims < 20 || overflowed == 0 {
		t.Fatalf("%d claims, %d overflowed: the table is not exercised", claims, overflowed)
	}
	checkWindows(t, log)
}

// Limits of the simulated configuration: small, so that every bucket
// runs empty.
var (
	simShared   = limit(20, time.Second)
	simToolA    = limit(5, time.Second)
	simToolB    = limit(7, 300*time.Millisecond)
	simUser     = limit(3, time.Second)
	simUserTool = limit(2, 500*time.Millisecond)
)

// randomDemands returns the demands of a random call (sometimes a batch
// of two) of a random one of users users.
func randomDemands(rng *rand.Rand, users int) []bucket.Demand {
	id := fmt.Sprint("user", rng.IntN(users))
	name := []string{"a", "b"}[rng.IntN(2)]
	toolLimit := map[string]bucket.Limit{"a": simToolA, "b": simToolB}[name]
	tokens := int64(1 + rng.IntN(4)/3)
	var d []bucket.Demand
	add := func(b bucket.Bucket) {
		if rng.IntN(5) > 0 {
			d = append(d, bucket.Demand{Bucket: b, Tokens: tokens})
		}
	}
	add(shared(simShared))
	add(tool(name, toolLimit))
	add(user(id, simUser))
	add(userTool(id, name, simUserTool))
	return d
}

// simulation runs takes of several workers on one store, single-threaded
// and reproducible: before any store operation of a take, another take
// may run to completion (up to two levels deep), which produces every
// kind of interleaving of reads and writes a seed can reach.
type simulation struct {
	t       *testing.T
	rng     *rand.Rand
	workers []*bucket.StoreLimiter
	busy    []bool // a worker runs one take at a time
	clock   time.Duration
	nest    float64 // probability to run another take before an operation
	depth   int
	users   int
	log     []admission
}

func newSimulation(t *testing.T, seed uint64, nest float64, opts bucket.Options, users int) *simulation {
	store := buckettest.NewMemoryStore()
	s := &simulation{t: t, rng: rand.New(rand.NewPCG(seed, seed>>32|1)), nest: nest, users: users}
	for range 3 {
		s.workers = append(s.workers, newLimiter(t, store, opts))
	}
	s.busy = make([]bool, len(s.workers))
	store.SetHook(func(buckettest.Op) error {
		if s.depth < 2 && s.rng.Float64() < s.nest {
			s.depth++
			s.takeOne()
			s.depth--
		}
		return nil
	})
	return s
}

// takeOne runs one take on a random worker at the current time minus a
// random skew (workers read the clock at different moments).
func (s *simulation) takeOne() {
	s.clock += time.Duration(s.rng.Int64N(int64(60 * time.Millisecond)))
	now := t0.Add(s.clock - time.Duration(s.rng.Int64N(int64(20*time.Millisecond))))
	demands := randomDemands(s.rng, s.users)
	w := s.rng.IntN(len(s.workers))
	if s.busy[w] {
		return
	}
	s.busy[w] = true
	defer func() { s.busy[w] = false }()
	d, err := tryTake(s.t, s.workers[w], now, demands)
	if err != nil {
		s.t.Fatalf("take: %v", err)
	}
	if d.Allowed {
		s.log = append(s.log, admission{now, demands})
	}
}

func (s *simulation) run(takes int) {
	for range takes {
		s.takeOne()
	}
	checkWindows(s.t, s.log)
}

func TestSimulatedInterleavings(t *testing.T) {
	tests := []struct {
		name  string
		opts  bucket.Options
		users int
	}{
		{"small table scanned whole", bucket.Options{Namespace: "ns", MaxTrackedUsers: 4}, 10},
		{"table larger than the probes", bucket.Options{Namespace: "ns", MaxTrackedUsers: 12, Probes: 3}, 30},
		{"table with room", bucket.Options{Namespace: "ns", MaxTrackedUsers: 64}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(40) {
				s := newSimulation(t, seed, 0.05, tt.opts, tt.users)
				s.run(150)
				if len(s.log) == 0 {
					t.Fatalf("seed %d admitted nothing", seed)
				}
			}
		})
	}
}

// FuzzInterleavings explores more seeds, nesting rates and table shapes.
func FuzzInterleavings(f *testing.F) {
	f.Add(uint64(1), uint8(10), uint8(4), uint8(0), uint8(10))
	f.Add(uint64(2), uint8(50), uint8(12), uint8(3), uint8(30))
	f.Fuzz(func(t *testing.T, seed uint64, nest, size, probes, users uint8) {
		opts := bucket.Options{Namespace: "ns", MaxTrackedUsers: 1 + int(size%64), Probes: int(probes % 40)}
		// Up to 1 in 8 store operations runs another take first (more
		// nests so deep that a run takes seconds).
		s := newSimulation(t, seed, float64(nest%32)/256, opts, 1+int(users%40))
		s.run(100)
	})
}
