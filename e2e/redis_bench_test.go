package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// redisBudgetMargin is what Redis mode may add to a tools/call beyond one
// round trip to webdis.
const redisBudgetMargin = 100 * time.Microsecond

// BenchmarkRedisDecision measures what keeping the buckets in Redis adds
// to a tools/call, one request at a time on loopback, over four paths:
//
//   - "go-redis EVALSHA": the decision alone, the script called directly
//     by a Redis client (github.com/redis/go-redis/v9), the floor;
//   - "webdis EVALSHA": the same through webdis over HTTP (Go's client,
//     keep-alive, the filter's credentials): one webdis round trip;
//   - "tools/call, shared data": a tools/call through the local host
//     running the compiled filter, buckets in shared data;
//   - "tools/call, Redis": the same host, bootstrap and demo server, with
//     the buckets in Redis through webdis.
//
// Each iteration runs every path once, in an order that rotates, so that
// whatever else loads the machine hits all four alike. It prints one line
// per path (median and 99th percentile), the latency Redis mode adds
// (the medians of the two tools/call paths, subtracted), the budget (the
// webdis round trip plus redisBudgetMargin) and whether the added latency
// stays within it; it reports the same figures as metrics (µs).
//
// With BENCH_BEFORE_WASM set to another build of the filter (an earlier
// commit's), a fifth path runs that module in Redis mode in the same
// iterations, and the same figures are given for it, so that a change of
// the module is measured before and after in one run.
func BenchmarkRedisDecision(b *testing.B) {
	// A bucket that never runs dry: 1e9 tokens per millisecond.
	const limits = `{"shared":{"maxTokens":1000000000,"refillPeriod":"1ms"}}`
	backend := startRedisBackend(b)
	plan, err := bucket.PlanRemote([]bucket.Demand{{Bucket: bucket.Bucket{Kind: bucket.KindShared,
		Limit: bucket.Limit{MaxTokens: 1_000_000_000, RefillPeriod: time.Millisecond}}, Tokens: 1}})
	if err != nil {
		b.Fatal(err)
	}
	keys, args := redis.ScriptArgs("mcprl", rootID, plan)
	if _, err := backend.redis.Do("SCRIPT", "LOAD", redis.Script); err != nil {
		b.Fatal(err)
	}

	client := goredis.NewClient(&goredis.Options{Addr: backend.redis.Addr()})
	defer client.Close()
	ctx := context.Background()
	argv := make([]any, len(args))
	for i, a := range args {
		argv[i] = a
	}
	goRedis := func() {
		reply, err := client.EvalSha(ctx, redis.ScriptSHA1, keys, argv...).Int64Slice()
		if err != nil || len(reply) != 4 || reply[0] != 1 {
			b.Fatalf("EVALSHA: %v, %v", reply, err)
		}
	}

	webdis := newWebdisClient(backend.webdis, keys, args)
	defer webdis.close()

	shared := startFleet(b, 1, limits, backend)[0]
	remote := startFleet(b, 1, withRedis(limits, `,"timeout":"1s"`), backend)[0]
	toolsCall := func(s *stack, session map[string]string) func() {
		body := toolsCallBody("1", demo.ToolEcho)
		return func() {
			if r := s.post(b, body, session); r.status != http.StatusOK {
				b.Fatalf("status %d: %s", r.status, r.body)
			}
		}
	}

	paths := []struct {
		name string
		op   func()
		took []time.Duration
	}{
		{name: "go-redis EVALSHA", op: goRedis},
		{name: "webdis EVALSHA", op: webdis.evalsha(b)},
		{name: "tools/call, shared data", op: toolsCall(shared, shared.openSession(b, nil))},
		{name: "tools/call, Redis", op: toolsCall(remote, remote.openSession(b, nil))},
	}
	if before := os.Getenv("BENCH_BEFORE_WASM"); before != "" {
		if _, err := os.Stat(before); err != nil {
			b.Fatalf("BENCH_BEFORE_WASM: %v", err)
		}
		s := startFleetOf(b, before, 1, withRedis(limits, `,"timeout":"1s"`), backend)[0]
		paths = append(paths, struct {
			name string
			op   func()
			took []time.Duration
		}{name: "tools/call, Redis, before", op: toolsCall(s, s.openSession(b, nil))})
	}
	// Warm every path (connections, the script, the VMs) outside the count.
	for range 20 {
		for _, p := range paths {
			p.op()
		}
	}
	decidedBefore := remote.counter("redis.decisions")
	iterations := 0
	for b.Loop() {
		for j := range paths {
			p := &paths[(iterations+j)%len(paths)]
			start := time.Now()
			p.op()
			p.took = append(p.took, time.Since(start))
		}
		iterations++
	}
	b.StopTimer()
	if got := remote.counter("redis.decisions") - decidedBefore; got != uint64(iterations) {
		b.Errorf("redis.decisions grew by %d over %d tools/call: Redis did not decide every call", got, iterations)
	}
	if got := remote.counter("redis.fallbacks"); got != 0 {
		b.Errorf("redis.fallbacks = %d: Redis did not decide every call", got)
	}

	lines := []string{fmt.Sprintf("%d iterations, each path once per iteration:", iterations)}
	p50 := make([]time.Duration, len(paths))
	for i, p := range paths {
		var line string
		p50[i], line = reportPath(b, p.name, p.took)
		lines = append(lines, line)
	}
	added := p50[3] - p50[2]
	budget := p50[1] + redisBudgetMargin
	verdict := "holds"
	if added > budget {
		verdict = fmt.Sprintf("exceeded by %.0f µs", micros(added-budget))
	}
	lines = append(lines,
		fmt.Sprintf("added over shared data   median %7.0f µs", micros(added)),
		fmt.Sprintf("budget = webdis round trip + %.0f µs = %.0f µs: %s", micros(redisBudgetMargin), micros(budget), verdict))
	if len(paths) > 4 {
		before := p50[4] - p50[2]
		// One line: the benchmark's log keeps ten.
		lines = append(lines, fmt.Sprintf("beyond the webdis round trip: before %.0f µs (added %.0f µs), now %.0f µs",
			micros(before-p50[1]), micros(before), micros(added-p50[1])))
		b.ReportMetric(micros(before), "before-added-us")
	}
	b.Log("\n" + strings.Join(lines, "\n"))
	b.ReportMetric(micros(added), "added-us")
	b.ReportMetric(micros(budget), "budget-us")
}

// reportPath reports the median of a path's times as a metric, and
// returns it with the path's line: its median and 99th percentile.
func reportPath(b *testing.B, name string, took []time.Duration) (time.Duration, string) {
	p50, p99 := quantile(took, 0.5), quantile(took, 0.99)
	metric := strings.NewReplacer(" ", "-", ",", "", "/", "").Replace(strings.ToLower(name))
	b.ReportMetric(micros(p50), metric+"-p50-us")
	return p50, fmt.Sprintf("%-24s median %7.0f µs   p99 %7.0f µs", name, micros(p50), micros(p99))
}

// quantile is the q-quantile of durations (sorted in place).
func quantile(durations []time.Duration, q float64) time.Duration {
	slices.Sort(durations)
	return durations[int(q*float64(len(durations)-1))]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// webdisClient posts the benchmark's EVALSHA to webdis as the filter does:
// one keep-alive connection, the filter's credentials, the same body.
type webdisClient struct {
	url       string
	body      string
	transport *http.Transport
	client    *http.Client
}

func newWebdisClient(w *redistest.Webdis, keys, args []string) *webdisClient {
	parts := []string{"EVALSHA", redis.ScriptSHA1, strconv.Itoa(len(keys))}
	for _, a := range append(keys, args...) {
		parts = append(parts, url.PathEscape(a))
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}
	return &webdisClient{url: "http://" + w.Addr() + "/", body: strings.Join(parts, "/"),
		transport: transport, client: &http.Client{Transport: transport, Timeout: testTimeout}}
}

func (c *webdisClient) evalsha(b *testing.B) func() {
	return func() {
		req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(c.body))
		if err != nil {
			b.Fatal(err)
		}
		req.SetBasicAuth(redistest.WebdisUser, redistest.WebdisPassword)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := c.client.Do(req)
		if err != nil {
			b.Fatalf("webdis: %v", err)
		}
		reply, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(reply), `{"EVALSHA":[1,`) {
			b.Fatalf("webdis: %d %s %v", resp.StatusCode, reply, err)
		}
	}
}

func (c *webdisClient) close() { c.transport.CloseIdleConnections() }

// BenchmarkRedisRejection measures a rejected tools/call, one request at a
// time on loopback, three ways, each through the local host running the
// compiled filter in front of the demo server, with a spent bucket:
//
//   - "shared data": the bucket in shared data;
//   - "Redis, each call": in Redis, every rejection decided by Redis
//     (redis.rejectLocallyFor "0s");
//   - "Redis, repeated": in Redis, the worker repeating Redis's rejection
//     of the same call (the default rejectLocallyFor, 1s), so that Redis
//     decides about one call a second.
//
// Each iteration runs every path once, in an order that rotates. It
// prints one line per path (median and 99th percentile) and reports the
// medians as metrics (µs).
func BenchmarkRedisRejection(b *testing.B) {
	const spent = `{"shared":{"maxTokens":1,"refillPeriod":"1000h"}}`
	backend := startRedisBackend(b)
	shared := startFleet(b, 1, spent, backend)[0]
	eachCall := startFleet(b, 1, withRedis(spent, `,"timeout":"1s","rejectLocallyFor":"0s"`), backend)[0]
	repeated := startFleet(b, 1, withRedis(spent, `,"timeout":"1s"`), backend)[0]
	body := toolsCallBody("1", demo.ToolEcho)
	paths := []struct {
		name string
		s    *stack
		took []time.Duration
	}{{name: "shared data", s: shared}, {name: "Redis, each call", s: eachCall}, {name: "Redis, repeated", s: repeated}}
	sessions := make([]map[string]string, len(paths))
	for i, p := range paths {
		sessions[i] = p.s.openSession(b, nil)
		// The bucket's one token goes to the first call (the two Redis
		// paths share one bucket); then every call is rejected.
		for range 20 {
			p.s.post(b, body, sessions[i])
		}
	}
	decidedBefore := eachCall.counter("redis.decisions")
	localBefore := repeated.counter("redis.local_rejections")
	iterations := 0
	for b.Loop() {
		for j := range paths {
			k := (iterations + j) % len(paths)
			p := &paths[k]
			start := time.Now()
			r := p.s.post(b, body, sessions[k])
			p.took = append(p.took, time.Since(start))
			if r.status != http.StatusTooManyRequests {
				b.Fatalf("%s: status %d, want 429: %s", p.name, r.status, r.body)
			}
		}
		iterations++
	}
	b.StopTimer()
	if got := eachCall.counter("redis.decisions") - decidedBefore; got != uint64(iterations) {
		b.Errorf("Redis, each call: redis.decisions grew by %d over %d calls, want one each", got, iterations)
	}
	if got := repeated.counter("redis.local_rejections") - localBefore; got == 0 && iterations > 10 {
		b.Errorf("Redis, repeated: no rejection repeated over %d calls", iterations)
	}
	lines := []string{fmt.Sprintf("%d iterations, each path once per iteration:", iterations)}
	for _, p := range paths {
		_, line := reportPath(b, p.name, p.took)
		lines = append(lines, line)
	}
	b.Log("\n" + strings.Join(lines, "\n"))
}
