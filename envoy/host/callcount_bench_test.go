package host

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// callCounter counts calls of a module's functions by name through a
// wazero function listener: every import (host calls), and, when all is
// set, every function of the module.
type callCounter struct {
	all    bool
	counts map[string]*int64
	// timed matches the functions whose inclusive time is measured too.
	timed *regexp.Regexp
	times map[string]*timedCalls
	// callersOf matches the functions whose calls are also counted by
	// caller (the first function on the stack outside package runtime) in
	// sites, when set.
	callersOf *regexp.Regexp
	sites     map[string]*int64
}

// reset zeroes every count, time and site, keeping the listeners (wazero
// keeps a compiled module with its first listeners).
func (c *callCounter) reset() {
	for _, n := range c.counts {
		*n = 0
	}
	for _, t := range c.times {
		t.total = 0
	}
	for _, n := range c.sites {
		*n = 0
	}
}

// timedCalls is the time spent in one function, callees included.
type timedCalls struct {
	total time.Duration
	start []time.Time // a stack: the function may recurse
}

func (c *callCounter) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	// Host functions are listened to in the host modules ("env.proxy_log"),
	// the module's own by their name-section names ("runtime.mallocgc").
	name := def.DebugName()
	if def.ModuleName() == "" || !isHostModule(def.ModuleName()) {
		name = def.Name()
	}
	if c.timed != nil && c.timed.MatchString(name) {
		tc, ok := c.times[name]
		if !ok {
			tc = &timedCalls{}
			c.times[name] = tc
		}
		return timeListener{tc}
	}
	byCaller := c.callersOf != nil && c.callersOf.MatchString(name)
	if !c.all && !byCaller && !isHostModule(def.ModuleName()) && name != "runtime.gcStart" && name != "runtime.mallocgc" {
		return nil
	}
	n, ok := c.counts[name]
	if !ok {
		n = new(int64)
		c.counts[name] = n
	}
	if byCaller {
		return callerListener{countListener{n}, c.sites}
	}
	return countListener{n}
}

// callerListener counts a function's calls like countListener, and by the
// first function outside Go's runtime that called it, directly or through
// the runtime (for runtime.mallocgc, the function that allocated).
type callerListener struct {
	countListener
	sites map[string]*int64
}

func (l callerListener) Before(ctx context.Context, m api.Module, def api.FunctionDefinition, params []uint64, stack experimental.StackIterator) {
	l.countListener.Before(ctx, m, def, params, stack)
	site := "?"
	stack.Next() // the function itself
	for stack.Next() {
		if name := stack.Function().Definition().Name(); !isRuntimeFunction(name) {
			site = name
			break
		}
	}
	n, ok := l.sites[site]
	if !ok {
		n = new(int64)
		l.sites[site] = n
	}
	*n++
}

// isRuntimeFunction reports whether the name-section name is of Go's
// runtime (package runtime or internal/runtime/...).
func isRuntimeFunction(name string) bool {
	return strings.HasPrefix(name, "runtime.") || strings.HasPrefix(name, "internal_runtime_")
}

func isHostModule(name string) bool {
	return name == "env" || name == "wasi_snapshot_preview1" || name == "wasi_unstable"
}

// callCounters are the counters of the compiled modules, one per module
// (reset before each workload): wazero keeps a compiled module with its
// first listeners, so every test and benchmark of one module shares one.
var callCounters = map[string]*callCounter{}

// moduleCounter returns the counter of module key, making a counter of
// host calls, allocations and collections the first time.
func moduleCounter(key string) *callCounter {
	c := callCounters[key]
	if c == nil {
		c = &callCounter{counts: map[string]*int64{}, times: map[string]*timedCalls{}}
		callCounters[key] = c
	}
	return c
}

type timeListener struct{ t *timedCalls }

func (l timeListener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	l.t.start = append(l.t.start, time.Now())
}

func (l timeListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {
	if n := len(l.t.start); n > 0 {
		l.t.total += time.Since(l.t.start[n-1])
		l.t.start = l.t.start[:n-1]
	}
}

func (l timeListener) Abort(ctx context.Context, m api.Module, def api.FunctionDefinition, _ error) {
	l.After(ctx, m, def, nil)
}

type countListener struct{ n *int64 }

func (l countListener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	*l.n++
}
func (countListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}
func (countListener) Abort(context.Context, api.Module, api.FunctionDefinition, error)    {}

// BenchmarkCallCounts runs each workload of BenchmarkVsNoop on the filter
// and on the no-op plugin compiled with a wazero function listener and
// reports, per request: host calls (every import), heap allocations
// (runtime.mallocgc calls) and garbage collections (runtime.gcStart
// calls). The listener slows the module down, so its time means nothing;
// the counts are exact. With BENCH_CALLS_ALL=1 it counts every function
// of the module, reports their calls per request (func-calls/req) and
// logs (-v) the most called ones, a profile by call count, which wazero's
// compiled code does not otherwise give (Go's profiler sees it as one
// opaque frame). BENCH_CALLERS_OF, a regular expression, names functions
// whose calls are logged by caller: "^runtime\.mallocgc$" gives the
// allocations by the function that made them. BENCH_TIME_FUNCS, a
// regular expression, names functions (name-section names, such as
// "jsonrpc.Read$") whose time, callees included, is logged per request:
// only those functions are slowed down by the listener, so their times
// compare with one another.
//
//	go test -run '^$' -bench CallCounts -benchtime 1000x -v ./envoy/host/
func BenchmarkCallCounts(b *testing.B) {
	filterCode := readArtifact(b, benchFilterWasm(), "build")
	noopCode := readArtifact(b, noopWasm, "bench")
	all := os.Getenv("BENCH_CALLS_ALL") != ""
	for _, w := range ratioWorkloads() {
		for _, m := range []struct {
			name, plugin string
			code         []byte
		}{{"filter", w.plugin, filterCode}, {"noop", "{}", noopCode}} {
			b.Run(w.name+"/"+m.name, func(b *testing.B) {
				// wazero caches a compiled module with its listeners (the
				// first run's), so each module keeps one counter.
				key := m.name
				counter := callCounters[key]
				if counter == nil {
					counter = &callCounter{all: all, counts: map[string]*int64{}, times: map[string]*timedCalls{}}
					if expr := os.Getenv("BENCH_CALLERS_OF"); expr != "" {
						counter.callersOf = regexp.MustCompile(expr)
						counter.sites = map[string]*int64{}
					}
					if expr := os.Getenv("BENCH_TIME_FUNCS"); expr != "" {
						counter.timed = regexp.MustCompile(expr)
					}
					callCounters[key] = counter
				} else if counter.all != all || (counter.callersOf == nil) != (os.Getenv("BENCH_CALLERS_OF") == "") ||
					(counter.timed == nil) != (os.Getenv("BENCH_TIME_FUNCS") == "") {
					b.Fatal("a test compiled the module first, with other listeners: run the benchmark alone (-run '^$')")
				}
				ctx := experimental.WithFunctionListenerFactory(context.Background(), counter)
				d := newDirect(b, m.code, directOptions{version: "1.33", plugin: m.plugin, compileCtx: ctx, webdis: w.webdis})
				headers, body, _ := w.request(0)
				d.do(headers, body, 0, 2<<20) // warm-up: the first decision may differ
				d.do(headers, body, 0, 2<<20)
				counter.reset()
				b.ResetTimer()
				for i := 1; i <= b.N; i++ {
					headers, body, status := w.request(i)
					r := d.do(headers, body, 0, 2<<20)
					if m.name == "filter" && r.status != status || m.name == "noop" && r.status != 200 {
						b.Fatalf("request %d: status %d, want %d (VM: %v)", i, r.status, status, d.vm.Failed())
					}
				}
				b.StopTimer()
				per := func(name string) float64 {
					if n, ok := counter.counts[name]; ok {
						return float64(*n) / float64(b.N)
					}
					return 0
				}
				type entry struct {
					name string
					n    float64
				}
				var hostCalls, funcCalls float64
				var hosts, funcs []entry
				for name := range counter.counts {
					if module, _, ok := strings.Cut(name, "."); ok && isHostModule(module) {
						hostCalls += per(name)
						if per(name) > 0 {
							hosts = append(hosts, entry{name, per(name)})
						}
					} else if per(name) > 0 {
						funcs = append(funcs, entry{name, per(name)})
						funcCalls += per(name)
					}
				}
				if all {
					b.ReportMetric(funcCalls, "func-calls/req")
				}
				b.ReportMetric(hostCalls, "host-calls/req")
				b.ReportMetric(per("runtime.mallocgc"), "mallocgc/req")
				b.ReportMetric(per("runtime.gcStart"), "gcStart/req")
				for _, list := range [][]entry{hosts, funcs} {
					sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n })
				}
				var sb strings.Builder
				for _, e := range hosts {
					fmt.Fprintf(&sb, "\n  host %-45s %8.2f", e.name, e.n)
				}
				for i, e := range funcs {
					if i == 40 {
						break
					}
					fmt.Fprintf(&sb, "\n  func %-60s %8.1f", e.name, e.n)
				}
				var sites []entry
				for name, n := range counter.sites {
					if *n > 0 {
						sites = append(sites, entry{name, float64(*n) / float64(b.N)})
					}
				}
				sort.Slice(sites, func(i, j int) bool { return sites[i].n > sites[j].n })
				for _, e := range sites {
					fmt.Fprintf(&sb, "\n  caller %-58s %8.2f", e.name, e.n)
				}
				var timed []string
				for name := range counter.times {
					timed = append(timed, name)
				}
				sort.Strings(timed)
				for _, name := range timed {
					fmt.Fprintf(&sb, "\n  time %-60s %8.2f µs", name, float64(counter.times[name].total.Nanoseconds())/1e3/float64(b.N))
				}
				b.Logf("calls per request:%s", sb.String())
			})
		}
	}
}
