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
			if d.Quota != nil || d.MaxInFlight > 0 {
				continue // checkQuotas, simulation.checkCaps
			}
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

// Quotas and caps of the simulated configuration (simulation.limits).
var (
	simQuotaShared = bucket.Quota{MaxCalls: 60, Period: bucket.PeriodDay}
	simQuotaUser   = bucket.Quota{MaxCalls: 8, Period: bucket.PeriodDay}
)

const simCapShared, simCapUser = 4, 2

// randomLimits returns random quota and cap demands of a call of tokens
// calls by user id.
func randomLimits(rng *rand.Rand, id string, tokens int64) []bucket.Demand {
	var d []bucket.Demand
	add := func(demand bucket.Demand) {
		if rng.IntN(3) > 0 {
			d = append(d, demand)
		}
	}
	add(bucket.Demand{Bucket: bucket.Bucket{Kind: bucket.KindShared}, Tokens: tokens, Quota: &simQuotaShared})
	add(bucket.Demand{Bucket: bucket.Bucket{Kind: bucket.KindUser, User: id}, Tokens: tokens, Quota: &simQuotaUser})
	add(bucket.Demand{Bucket: bucket.Bucket{Kind: bucket.KindShared}, Tokens: tokens, MaxInFlight: simCapShared})
	add(bucket.Demand{Bucket: bucket.Bucket{Kind: bucket.KindUser, User: id}, Tokens: tokens, MaxInFlight: simCapUser})
	return d
}

// checkQuotas fails when a quota (per user for per-user quotas) admitted
// more calls in one window than its MaxCalls.
func checkQuotas(t *testing.T, log []admission) {
	t.Helper()
	type window struct {
		kind  bucket.Kind
		user  string
		q     bucket.Quota
		start int64
	}
	counts := map[window]int64{}
	for _, a := range log {
		for _, d := range a.demands {
			if d.Quota == nil {
				continue
			}
			start, _ := d.Quota.Window(a.now)
			w := window{d.Bucket.Kind, d.Bucket.User, *d.Quota, start.UnixNano()}
			counts[w] += d.Tokens
			if counts[w] > d.Quota.MaxCalls {
				t.Fatalf("%s quota (user %q) admitted %d calls in the window from %v, max %d",
					w.kind, w.user, counts[w], start, d.Quota.MaxCalls)
			}
		}
	}
}

// randomDemands returns the demands of a random call (sometimes a batch
// of two) of a random one of users users.
func randomDemands(rng *rand.Rand, users int) []bucket.Demand {
	_, _, d := randomCall(rng, users)
	return d
}

// randomCall is randomDemands with the call's user and tokens.
func randomCall(rng *rand.Rand, users int) (id string, tokens int64, d []bucket.Demand) {
	id = fmt.Sprint("user", rng.IntN(users))
	name := []string{"a", "b"}[rng.IntN(2)]
	toolLimit := map[string]bucket.Limit{"a": simToolA, "b": simToolB}[name]
	tokens = int64(1 + rng.IntN(4)/3)
	add := func(b bucket.Bucket) {
		if rng.IntN(5) > 0 {
			d = append(d, bucket.Demand{Bucket: b, Tokens: tokens})
		}
	}
	add(shared(simShared))
	add(tool(name, toolLimit))
	add(user(id, simUser))
	add(userTool(id, name, simUserTool))
	return id, tokens, d
}

// held is an admitted call of the simulation holding its cap leases.
type held struct {
	worker  int
	lease   bucket.Lease
	demands []bucket.Demand
	until   int // the take count at which the call ends
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
	// limits adds quota and cap demands to the calls; admitted calls with
	// a lease hold it for a few takes.
	limits bool
	takes  int
	held   []held
}

func newSimulation(t *testing.T, seed uint64, nest float64, opts bucket.Options, users int) *simulation {
	store := buckettest.NewMemoryStore()
	s := &simulation{t: t, rng: rand.New(rand.NewPCG(seed, seed>>32|1)), nest: nest, users: users}
	for i := range 3 {
		// Each worker its own random source, as each VM has: lease ids
		// start from a random base per limiter.
		var key [32]byte
		key[0], key[1] = byte(seed), byte(i)
		opts.Random = rand.NewChaCha8(key)
		s.workers = append(s.workers, newLimiter(t, &reusingStore{Store: store}, opts))
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

// reusingStore is the store of one simulated worker (one VM): its Get
// returns memory it scribbles over and reuses at the next Get, as the
// filter's shared-data store does in a Wasm VM (bucket.Store allows it).
// A limiter that kept a value past its next store call would read
// garbage, and the simulation's checks would catch the decisions.
type reusingStore struct {
	bucket.Store
	value []byte
}

func (s *reusingStore) Get(key string) ([]byte, uint32, error) {
	value, cas, err := s.Store.Get(key)
	for i := range s.value {
		s.value[i] = 0xA5
	}
	if err != nil {
		return nil, cas, err
	}
	s.value = append(s.value[:0], value...)
	return s.value, cas, nil
}

// takeOne runs one take on a random worker at the current time minus a
// random skew (workers read the clock at different moments).
//
// Time passes between top-level takes only. A nested take runs while
// another is between two store operations, which in Envoy lasts
// microseconds: were the clock to move on meanwhile, a take could read
// the clock more than Options.ReclaimGrace before its last write, which
// the limiter's reclaiming of users' slots assumes never happens.
func (s *simulation) takeOne() {
	if s.depth == 0 {
		s.clock += time.Duration(s.rng.Int64N(int64(60 * time.Millisecond)))
	}
	now := t0.Add(s.clock - time.Duration(s.rng.Int64N(int64(20*time.Millisecond))))
	id, tokens, demands := randomCall(s.rng, s.users)
	if s.limits {
		demands = append(demands, randomLimits(s.rng, id, tokens)...)
	}
	w := s.rng.IntN(len(s.workers))
	if s.busy[w] {
		return
	}
	s.busy[w] = true
	defer func() { s.busy[w] = false }()
	s.takes++
	s.endCalls()
	d, err := tryTake(s.t, s.workers[w], now, demands)
	if err != nil {
		s.t.Fatalf("take: %v", err)
	}
	if d.Allowed {
		s.checkCaps(demands)
		s.log = append(s.log, admission{now, demands})
		if d.Lease != nil && !d.Lease.Empty() {
			s.held = append(s.held, held{worker: w, lease: d.Lease, demands: demands, until: s.takes + s.rng.IntN(24)})
		}
	}
}

// endCalls releases the leases of the calls whose time is up. A call
// leaves s.held before its release starts: takes nested in the release
// may see its lease still held, never the reverse.
func (s *simulation) endCalls() {
	var due []held
	s.held = slices.DeleteFunc(s.held, func(h held) bool {
		if h.until <= s.takes {
			due = append(due, h)
			return true
		}
		return false
	})
	for _, h := range due {
		s.workers[h.worker].Release(h.lease)
	}
}

// checkCaps fails when the call just admitted, with the calls held, puts
// more calls in flight than a cap allows (per user for per-user caps).
func (s *simulation) checkCaps(demands []bucket.Demand) {
	for _, d := range demands {
		if d.MaxInFlight == 0 {
			continue
		}
		inFlight := d.Tokens
		for _, h := range s.held {
			for _, o := range h.demands {
				if o.MaxInFlight == d.MaxInFlight && o.Bucket.Kind == d.Bucket.Kind && o.Bucket.User == d.Bucket.User {
					inFlight += o.Tokens
				}
			}
		}
		if inFlight > d.MaxInFlight {
			s.t.Fatalf("%s cap (user %q) has %d calls in flight, max %d", d.Bucket.Kind, d.Bucket.User, inFlight, d.MaxInFlight)
		}
	}
}

func (s *simulation) run(takes int) {
	for range takes {
		s.takeOne()
	}
	checkWindows(s.t, s.log)
	checkQuotas(s.t, s.log)
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
		for _, limits := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/quotas and caps %t", tt.name, limits), func(t *testing.T) {
				var claims, overflowed uint64
				for seed := range uint64(40) {
					s := newSimulation(t, seed, 0.05, tt.opts, tt.users)
					s.limits = limits
					s.run(150)
					if len(s.log) == 0 {
						t.Fatalf("seed %d admitted nothing", seed)
					}
					for _, w := range s.workers {
						claims += w.Stats().SlotClaims
						overflowed += w.Stats().Overflowed
					}
				}
				if claims == 0 {
					t.Fatalf("no slot claimed: the tables are not exercised")
				}
			})
		}
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
		s.limits = seed%2 == 1
		s.run(100)
	})
}
