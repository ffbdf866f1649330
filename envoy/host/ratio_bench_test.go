package host

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// noopWasm is the benchmarks' baseline plugin (filter/internal/noop), built
// like the filter by `make bench`.
const noopWasm = "../../build/noop.wasm"

// benchFilterWasm is the filter module the benchmarks run:
// build/mcp-ratelimit.wasm, or the file BENCH_FILTER_WASM names (a variant
// under evaluation).
func benchFilterWasm() string {
	if path := os.Getenv("BENCH_FILTER_WASM"); path != "" {
		return path
	}
	return shippedWasm
}

// benchBlock is the number of requests each module gets in turn:
// BENCH_BLOCK, 8 by default.
func benchBlock(b *testing.B) int {
	text := os.Getenv("BENCH_BLOCK")
	if text == "" {
		return 8
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 {
		b.Fatalf("BENCH_BLOCK=%q: want a number of requests, at least 1", text)
	}
	return n
}

// ratioWorkload is one kind of request, sent to the filter and to the no-op
// plugin alike.
type ratioWorkload struct {
	name   string
	plugin string // the filter's configuration
	// request returns the i-th request's headers and body and the status
	// the filter must answer.
	request func(i int) (headers [][2]string, body []byte, status int)
	// webdis, when set, answers the filter's callouts (Redis mode).
	webdis func(proxywasm.Callout) proxywasm.CalloutResponse
	// admitting, when set, is the configuration of a second filter that
	// admits the same requests (status 200). It runs interleaved with the
	// first, so that a rejection is compared with an admission side by
	// side (vs-admitted), not across two workloads measured at different
	// times.
	admitting string
}

func ratioWorkloads() []ratioWorkload {
	small := toolsCallOfSize(1, "echo", 256)
	list := []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`)
	body16k := toolsCallOfSize(3, "echo", 16<<10)
	body1m := toolsCallOfSize(4, "echo", 1<<20)
	oneBucket := `{"shared":{"maxTokens":1000000000,"refillPeriod":"1s"}}`
	users := make([]string, 1000)
	for i := range users {
		users[i] = "user-" + strconv.Itoa(i)
	}
	return []ratioWorkload{
		{name: "get-sse", plugin: oneBucket, request: func(int) ([][2]string, []byte, int) {
			return [][2]string{{":method", "GET"}, {":path", "/mcp"}, {":authority", "127.0.0.1:10000"},
				{":scheme", "http"}, {"accept", "text/event-stream"}}, nil, 200
		}},
		{name: "tools-list", plugin: oneBucket, request: func(int) ([][2]string, []byte, int) { return mcpHeaders(), list, 200 }},
		{name: "call-admitted", plugin: oneBucket, request: func(int) ([][2]string, []byte, int) { return mcpHeaders(), small, 200 }},
		{name: "call-rejected", plugin: `{"shared":{"maxTokens":1,"refillPeriod":"1000h"}}`, request: func(i int) ([][2]string, []byte, int) {
			if i == 0 {
				return mcpHeaders(), small, 200
			}
			return mcpHeaders(), small, 429
		}, admitting: oneBucket},
		{name: "call-4-buckets-1000-users", plugin: `{"shared":{"maxTokens":1000000000,"refillPeriod":"1s"},` +
			`"perUser":{"maxTokens":1000000000,"refillPeriod":"1s"},` +
			`"tools":[{"name":"echo","shared":{"maxTokens":1000000000,"refillPeriod":"1s"},"perUser":{"maxTokens":1000000000,"refillPeriod":"1s"}}],` +
			`"userIdentity":{"from":"header","header":"x-user-id"}}`,
			request: func(i int) ([][2]string, []byte, int) {
				return mcpHeaders([2]string{"x-user-id", users[i%len(users)]}), small, 200
			}},
		{name: "call-redis", plugin: strings.TrimSuffix(oneBucket, "}") +
			`,"redis":{"cluster":"webdis","username":"mcp","password":"secret"}}`,
			request: func(int) ([][2]string, []byte, int) { return mcpHeaders(), small, 200 },
			webdis:  instantWebdis},
		// Redis rejects the first call (its bucket of one token is
		// spent); the filter repeats that rejection of the same call
		// for redis.rejectLocallyFor (1s), then asks again.
		{name: "call-redis-rejected", plugin: `{"shared":{"maxTokens":1,"refillPeriod":"1000h"},` +
			`"redis":{"cluster":"webdis","username":"mcp","password":"secret"}}`,
			request: func(int) ([][2]string, []byte, int) { return mcpHeaders(), small, 429 },
			webdis: func(c proxywasm.Callout) proxywasm.CalloutResponse {
				return webdisAnswer(c, "[0,3600000,0,0]")
			}},
		{name: "call-16KiB", plugin: oneBucket, request: func(int) ([][2]string, []byte, int) { return mcpHeaders(), body16k, 200 }},
		{name: "call-1MiB", plugin: oneBucket, request: func(int) ([][2]string, []byte, int) { return mcpHeaders(), body1m, 200 }},
	}
}

// instantWebdis answers a take of one bucket the way webdis does when
// Redis admits it (the reply and the headers webdis 0.1.9 writes), at
// once: Redis mode's work in the module and the host without the network.
func instantWebdis(c proxywasm.Callout) proxywasm.CalloutResponse {
	return webdisAnswer(c, "[1,0,0,0]")
}

// webdisAnswer is webdis's answer to the script command of c (EVAL or
// EVALSHA) when the script replies reply, a JSON array.
func webdisAnswer(c proxywasm.Callout, reply string) proxywasm.CalloutResponse {
	name := "EVALSHA"
	if strings.HasPrefix(string(c.Body), "EVAL/") {
		name = "EVAL"
	}
	body := []byte(`{"` + name + `":` + reply + `}`)
	return proxywasm.CalloutResponse{Headers: [][2]string{
		{":status", "200"}, {"server", "Webdis"}, {"allow", "GET,POST,PUT,OPTIONS"},
		{"access-control-allow-methods", "GET,POST,PUT,OPTIONS"}, {"access-control-allow-origin", "*"},
		{"date", "Sat, 28 Nov 2026 07:00:00 GMT"}, {"content-type", "application/json"},
		{"etag", `"7e0b9ad0a37e0c5a4e0a1b4d5f6c7d8e"`}, {"connection", "Keep-Alive"},
		{"content-length", strconv.Itoa(len(body))},
	}, Body: body}
}

// BenchmarkVsNoop drives build/mcp-ratelimit.wasm and build/noop.wasm
// (one VM each, the local host's filter manager, no network, the Envoy
// 1.33 profile) with the same requests, interleaved in blocks of 8 so
// that both see the same machine load, and reports per workload the time
// per request of each and their ratio (filter / no-op). For a workload
// with a body, MB/s is the body's size over the filter's time beyond the
// no-op's (what the filter adds to reading the body).
//
// With BENCH_BEFORE_WASM set to another build of the filter (an earlier
// commit's), that module runs interleaved too and before-ratio is its
// ratio, so a change is measured before and after in one run. The
// rejection workload then runs the same requests through the rejecting
// filter and through the filter configured to admit them (its module
// compiled apart, see compiledApart), interleaved in blocks of their own:
// vs-admitted is the rejection's time over the admission's.
//
// It is a benchmark, not a test: nothing fails on a timing. Each op is
// one request to each module.
func BenchmarkVsNoop(b *testing.B) {
	filterCode := readArtifact(b, benchFilterWasm(), "build")
	var beforeCode []byte
	if path := os.Getenv("BENCH_BEFORE_WASM"); path != "" {
		beforeCode = readArtifact(b, path, "build")
	}
	benchVsNoop(b, "filter", filterCode, beforeCode, ratioWorkloads())
}

// hostFloorWasm is the benchmarks' second baseline
// (filter/internal/hostfloor), built like the filter by `make bench`.
const hostFloorWasm = "../../build/hostfloor.wasm"

// BenchmarkHostFloorVsNoop runs the host-call floor plugin
// (filter/internal/hostfloor: the filter's host calls for one shared
// bucket, no other work) in the filter's place against the no-op plugin,
// on the workloads whose host calls it makes. Its ratio is the part of
// the filter's (BenchmarkVsNoop) that the host calls account for.
func BenchmarkHostFloorVsNoop(b *testing.B) {
	benchVsNoop(b, "floor", readArtifact(b, hostFloorWasm, "bench"), nil, oneBucketWorkloads())
}

// oneBucketWorkloads are the workloads of ratioWorkloads with one shared
// bucket in shared data: those whose host calls the host-call floor makes
// (TestHostFloorMatchesFilter) and on which the filter allocates nothing
// (TestRequestPathAllocatesNothing).
func oneBucketWorkloads() []ratioWorkload {
	var workloads []ratioWorkload
	for _, w := range ratioWorkloads() {
		switch w.name {
		case "get-sse", "tools-list", "call-admitted", "call-rejected", "call-16KiB":
			workloads = append(workloads, w)
		}
	}
	return workloads
}

// benchVsNoop runs each workload on code (its times reported as label's)
// and on the no-op plugin, and on beforeCode too unless it is nil (see
// BenchmarkVsNoop).
func benchVsNoop(b *testing.B, label string, code, beforeCode []byte, workloads []ratioWorkload) {
	noopCode := readArtifact(b, noopWasm, "bench")
	// Every module compiled apart from every other (see compiledApart):
	// the no-op's own file in the filter's place, or the filter's in the
	// earlier build's, would otherwise run the other's machine code.
	if bytes.Equal(code, noopCode) {
		code = compiledApart(code, "filter")
	}
	if beforeCode != nil && (bytes.Equal(beforeCode, noopCode) || bytes.Equal(beforeCode, code)) {
		beforeCode = compiledApart(beforeCode, "before")
	}
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			filter := newDirect(b, code, directOptions{version: "1.33", plugin: w.plugin, webdis: w.webdis})
			noop := newDirect(b, noopCode, directOptions{version: "1.33", plugin: "{}"})
			run := func(d *direct, from, to int, checkStatus bool) time.Duration {
				start := time.Now()
				for i := from; i < to; i++ {
					headers, body, status := w.request(i)
					r := d.do(headers, body, 0, 2<<20)
					if checkStatus && r.status != status {
						b.Fatalf("%s request %d: status %d, want %d: %.200s (VM: %v)", w.name, i, r.status, status, r.body, d.vm.Failed())
					}
					if !checkStatus && r.status != 200 {
						b.Fatalf("request %d to the no-op or an admitting filter: status %d, want 200 (VM: %v)", i, r.status, d.vm.Failed())
					}
				}
				return time.Since(start)
			}
			// One warm-up request each (the filter's first decision of a
			// workload may differ, as in call-rejected).
			run(filter, 0, 1, true)
			run(noop, 0, 1, false)
			var before, admitting *direct
			if beforeCode != nil {
				before = newDirect(b, beforeCode, directOptions{version: "1.33", plugin: w.plugin, webdis: w.webdis})
				run(before, 0, 1, true)
			}
			if w.admitting != "" {
				admitting = newDirect(b, compiledApart(code, "admitting"), directOptions{version: "1.33", plugin: w.admitting})
				run(admitting, 0, 1, false)
			}
			// Each block of requests goes to every module in turn, in an
			// order drawn afresh for each block, so that a change of
			// machine load falls on all of them alike and each module
			// follows each other one as often: with a fixed cycle, a
			// module that always ran after the same one was measured a
			// few percent dearer or cheaper for it (the filter against
			// itself as the "before" module: 0.90 to 1.02).
			type runner struct {
				d           *direct
				checkStatus bool
				total       time.Duration
			}
			filterRunner, noopRunner := &runner{d: filter, checkStatus: true}, &runner{d: noop}
			runners := []*runner{filterRunner, noopRunner}
			var beforeRunner *runner
			if before != nil {
				beforeRunner = &runner{d: before, checkStatus: true}
				runners = append(runners, beforeRunner)
			}
			order := rand.New(rand.NewPCG(1, 2)) // the same orders in every run
			block := benchBlock(b)
			interleave := func(runners []*runner) {
				for from := 0; from < b.N; from += block {
					to := min(from+block, b.N)
					order.Shuffle(len(runners), func(i, j int) { runners[i], runners[j] = runners[j], runners[i] })
					for _, r := range runners {
						r.total += run(r.d, 1+from, 1+to, r.checkStatus)
					}
				}
			}
			b.ResetTimer()
			interleave(runners)
			tFilter, tNoop := filterRunner.total, noopRunner.total
			// The rejection against the admission, side by side in blocks
			// of their own: in the blocks above a third VM would change
			// what the filter and the no-op are measured in.
			var rejecting, admittingRunner *runner
			if admitting != nil {
				rejecting, admittingRunner = &runner{d: filter, checkStatus: true}, &runner{d: admitting} // 200, as the no-op's
				interleave([]*runner{rejecting, admittingRunner})
			}
			n := float64(b.N)
			perFilter, perNoop := float64(tFilter.Nanoseconds())/n, float64(tNoop.Nanoseconds())/n
			b.ReportMetric(perFilter/1e3, label+"-µs/req")
			b.ReportMetric(perNoop/1e3, "noop-µs/req")
			b.ReportMetric(perFilter/perNoop, "ratio")
			if before != nil {
				b.ReportMetric(float64(beforeRunner.total.Nanoseconds())/n/perNoop, "before-ratio")
			}
			if admitting != nil {
				b.ReportMetric(float64(rejecting.total)/float64(admittingRunner.total), "vs-admitted")
			}
			if _, body, _ := w.request(1); len(body) >= 16<<10 {
				if extra := perFilter - perNoop; extra > 0 {
					b.ReportMetric(float64(len(body))/extra*1e3, "MB/s-beyond-body")
				}
			}
		})
	}
}

// compiledApart returns code with a custom section named after role (of
// one byte: wazero refuses an empty one at the end of a module) appended:
// the same module to run, other bytes. The host compiles a module once for
// all VMs of the same bytes (its compilation cache); two modules compared
// that share their machine code each warm the other's caches and branch
// predictors for the next block, and measure cheaper than they are. The
// no-op with direct entries measured 0.922 against the one without while
// it was also the no-op, 1.052 while the one without was; the filter
// rejecting measured about 4% cheaper against the no-op while an admitting
// VM ran its code, and 10 to 17% cheaper than the same build without it
// (docs/benchmarks.md, "Modules compiled apart").
func compiledApart(code []byte, role string) []byte {
	name := "mcp-ratelimit.bench." + role
	payload := append(append([]byte{byte(len(name))}, name...), 0)
	out := append(bytes.Clone(code), 0, byte(len(payload)))
	return append(out, payload...)
}
