package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host"
)

// The Redis tests run the compiled filter in the e2e host with the
// bootstrap `make run-redis` serves (envoy/local-redis.yaml), against a
// real redis-server and a real webdis started on free loopback ports
// (package redistest), with the plugin configuration replaced.

const (
	// redisBootstrapPath is the bootstrap with the "webdis" cluster.
	redisBootstrapPath = "../envoy/local-redis.yaml"
	// webdisCluster is its webdis cluster.
	webdisCluster = "webdis"
)

// redisBackend is a Redis with webdis in front of it.
type redisBackend struct {
	redis  *redistest.Redis
	webdis *redistest.Webdis
}

func startRedisBackend(t testing.TB) *redisBackend {
	t.Helper()
	r := redistest.StartRedis(t)
	return &redisBackend{redis: r, webdis: redistest.StartWebdis(t, r.Port)}
}

// withRedis adds a redis member to a plugin configuration (a JSON object):
// the webdis cluster, its credentials, and extra members (JSON text, may be
// empty).
func withRedis(plugin, extra string) string {
	member := fmt.Sprintf(`"redis":{"cluster":%q,"username":%q,"password":%q%s}`,
		webdisCluster, redistest.WebdisUser, redistest.WebdisPassword, extra)
	return strings.TrimSuffix(strings.TrimSpace(plugin), "}") + "," + member + "}"
}

// startFleet starts n hosts with plugin in front of one demo MCP server,
// all calling the same webdis.
func startFleet(t testing.TB, n int, plugin string, backend *redisBackend) []*stack {
	t.Helper()
	return startFleetOf(t, wasmPath, n, plugin, backend)
}

// startFleetOf is startFleet with the module at wasm.
func startFleetOf(t testing.TB, wasm string, n int, plugin string, backend *redisBackend) []*stack {
	t.Helper()
	d := demo.New(demo.Options{})
	upstream := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("closing the demo sessions: %v", err)
		}
		upstream.Close()
	})
	var fleet []*stack
	for i := range n {
		logs := &lockedBuffer{}
		h, err := host.New(host.Options{
			ConfigPath:    redisBootstrapPath,
			ListenAddress: "127.0.0.1:0",
			AdminAddress:  "127.0.0.1:0",
			ClusterAddresses: map[string]string{
				clusterName:   upstream.Listener.Addr().String(),
				webdisCluster: backend.webdis.Addr(),
			},
			WasmPath:     wasm,
			PluginConfig: []byte(plugin),
			Log:          logs,
		})
		if err != nil {
			t.Fatalf("host.New with plugin config %s: %v", plugin, err)
		}
		if err := h.Start(); err != nil {
			_ = h.Close()
			t.Fatalf("host.Start: %v\nhost log:\n%s", err, logs)
		}
		transport := &http.Transport{MaxIdleConnsPerHost: 128, ResponseHeaderTimeout: testTimeout}
		s := &stack{
			demo: d, host: h, endpoint: h.URL() + demo.DefaultPath, adminURL: "http://" + h.AdminAddr(),
			transport: transport, client: &http.Client{Transport: transport, Timeout: testTimeout}, logs: logs,
		}
		t.Cleanup(func() {
			if traps := h.Traps(); traps != 0 {
				t.Errorf("host %d: the module trapped %d times", i, traps)
			}
			transport.CloseIdleConnections()
			if err := h.Close(); err != nil {
				t.Errorf("host %d: Close: %v", i, err)
			}
			if t.Failed() {
				t.Logf("host %d log:\n%s", i, logs)
			}
		})
		fleet = append(fleet, s)
	}
	return fleet
}

// counter reads one of the filter's counters of a host.
func (s *stack) counter(suffix string) uint64 { return s.host.Metrics()[statName(suffix)] }

// fleetCounter sums a counter over hosts.
func fleetCounter(fleet []*stack, suffix string) uint64 {
	var n uint64
	for _, s := range fleet {
		n += s.counter(suffix)
	}
	return n
}

// TestRedisFleetAdmitsExactlyCapacity: 64 official-SDK clients, half
// through each of two hosts, call tools concurrently against one server-
// wide bucket of 100 kept in Redis: exactly 100 calls pass in all, every
// other call gets the 429, and Redis decided every one of them.
func TestRedisFleetAdmitsExactlyCapacity(t *testing.T) {
	const (
		clients  = 64
		calls    = 3
		capacity = 100
	)
	backend := startRedisBackend(t)
	// 8760h per 100 tokens: no token comes back while the test runs.
	plugin := withRedis(`{"shared":{"maxTokens":100,"refillPeriod":"8760h"}}`, `,"timeout":"2s"`)
	fleet := startFleet(t, 2, plugin, backend)
	var admitted, rejected atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients*calls)
	sessions := make([]*mcp.ClientSession, clients)
	for i := range clients {
		sessions[i] = fleet[i%2].connect(t, clientOptions{})
	}
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				err := call(sessions[i], demo.ToolEcho)
				switch {
				case err == nil:
					admitted.Add(1)
				case isTooManyRequests(err):
					rejected.Add(1)
				default:
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	if admitted.Load() != capacity || rejected.Load() != clients*calls-capacity {
		t.Fatalf("admitted %d, rejected %d across both hosts; want exactly %d and %d",
			admitted.Load(), rejected.Load(), capacity, clients*calls-capacity)
	}
	if got := fleet[0].demo.TotalCalls(); got != capacity {
		t.Errorf("the server ran %d tools/call, want %d", got, capacity)
	}
	// Each tools/call was decided by Redis, or rejected again by a host
	// that Redis had rejected the same call for (rejectLocallyFor).
	decided, local := fleetCounter(fleet, "redis.decisions"), fleetCounter(fleet, "redis.local_rejections")
	if decided+local != clients*calls || local == 0 || decided < capacity {
		t.Errorf("redis.decisions = %d and redis.local_rejections = %d over both hosts; want %d in all (one per tools/call), some of each",
			decided, local, clients*calls)
	}
	// The latency histogram has one sample per call to Redis, also on
	// /stats/prometheus.
	if got := fleetCounter(fleet, "redis.latency_us.count"); got != decided {
		t.Errorf("redis.latency_us has %d samples, want %d", got, decided)
	}
	var scraped float64
	for _, s := range fleet {
		scraped += s.prometheus(t)[prometheusName(statName("redis.latency_us"))+"_count"]
	}
	if scraped != float64(decided) {
		t.Errorf("/stats/prometheus redis_latency_us_count = %v over both hosts, want %d", scraped, decided)
	}
	for _, name := range []string{"redis.fallbacks", "tools_call.rejected_contended", "store.errors"} {
		if got := fleetCounter(fleet, name); got != 0 {
			t.Errorf("%s = %d, want 0", name, got)
		}
	}
	for i, s := range fleet {
		if s.counter("tools_call.admitted") == 0 {
			t.Errorf("host %d admitted nothing: the calls were not spread", i)
		}
	}
}

// TestRedisRepliesMatchSharedData sends one sequence of requests (users,
// tools, ids of every kind, a notification, batches, a limited method, a
// tool and a resource with costs, a batch beyond its bucket) to a host
// keeping its buckets in shared data and to a host keeping them in Redis:
// every reply is the same (status, Retry-After, RateLimit headers, content
// type, and the body of every reply the filter sent itself).
func TestRedisRepliesMatchSharedData(t *testing.T) {
	const plugin = `{
		"shared": {"maxTokens": 6, "refillPeriod": "1h"},
		"perUser": {"maxTokens": 3, "refillPeriod": "1h"},
		"tools": [{"name": "search", "shared": {"maxTokens": 2, "refillPeriod": "1h"}, "perUser": {"maxTokens": 1, "refillPeriod": "1h"}},
			{"name": "add", "cost": 2}],
		"methods": [{"name": "resources/read", "perUser": {"maxTokens": 2, "refillPeriod": "1h"}}],
		"resources": [{"uri": "` + demo.ClockURI + `", "cost": 2}],
		"userIdentity": {"from": "header", "header": "x-user-id"},
		"batch": "limit",
		"rateLimitHeaders": true
	}`
	backend := startRedisBackend(t)
	local := startStack(t, stackOptions{plugin: plugin})
	remote := startFleet(t, 1, withRedis(plugin, `,"timeout":"2s"`), backend)[0]

	type step struct {
		user, body string
	}
	batch := `[` + toolsCallBody(`"b1"`, demo.ToolEcho) + `,` + toolsCallBody(`"b2"`, demo.ToolSearch) + `]`
	steps := []step{
		{"alice", toolsCallBody("1", demo.ToolSearch)},
		{"alice", toolsCallBody(`"two"`, demo.ToolSearch)},
		{"bob", toolsCallBody("3", demo.ToolSearch)},
		{"carol", toolsCallBody("4", demo.ToolSearch)},
		{"alice", toolsCallBody("5", demo.ToolEcho)},
		{"alice", toolsCallBody("6.5", demo.ToolEcho)},
		{"alice", toolsCallBody("null", demo.ToolEcho)},
		{"", toolsCallBody("8", demo.ToolAdd)},
		{"bob", batch},
		{"dave", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"text":"n"}}}`},
		{"dave", toolsCallBody("10", demo.ToolEcho)},
		{"erin", batch},
		{"frank", resourcesReadBody("20", demo.ClockURI)},
		{"frank", resourcesReadBody("21", demo.ClockURI)},
		{"grace", `[` + resourcesReadBody("22", demo.ClockURI) + `,` + resourcesReadBody("23", demo.ClockURI) + `]`},
		{"grace", resourcesReadBody("24", "demo://docs/envoy")},
		{"", toolsCallBody(`"last"`, demo.ToolFetch)},
	}
	localSession := local.openSession(t, nil)
	remoteSession := remote.openSession(t, nil)
	filterReplied := 0
	for i, st := range steps {
		var replies [2]rawResponse
		for j, target := range []struct {
			s       *stack
			session map[string]string
		}{{local, localSession}, {remote, remoteSession}} {
			header := map[string]string{}
			for k, v := range target.session {
				header[k] = v
			}
			if st.user != "" {
				header[userHeader] = st.user
			}
			replies[j] = target.s.post(t, st.body, header)
		}
		a, b := replies[0], replies[1]
		where := fmt.Sprintf("step %d (user %q, %s)", i, st.user, st.body)
		if a.status != b.status {
			t.Fatalf("%s: status %d with shared data, %d with Redis", where, a.status, b.status)
		}
		for _, name := range []string{"Retry-After", "RateLimit", "RateLimit-Policy", "Content-Type"} {
			if a.header.Get(name) != b.header.Get(name) {
				t.Errorf("%s: %s %q with shared data, %q with Redis", where, name, a.header.Get(name), b.header.Get(name))
			}
		}
		if a.header.Get("Retry-After") != "" {
			filterReplied++
			if string(a.body) != string(b.body) {
				t.Errorf("%s: body\n%s with shared data\n%s with Redis", where, a.body, b.body)
			}
		}
	}
	if filterReplied < 5 {
		t.Errorf("only %d rejections in the sequence: it does not exercise the buckets", filterReplied)
	}
	for _, name := range []string{"tools_call.admitted", "tools_call.rejected", "tools_call.rejected_shared",
		"tools_call.rejected_tool", "tools_call.rejected_user", "tools_call.rejected_user_tool",
		"tool.add.admitted", "tool.add.rejected", "method.resources_read.admitted", "method.resources_read.rejected",
		"resource.demo___clock.admitted", "resource.demo___clock.rejected"} {
		if a, b := local.counter(name), remote.counter(name); a != b {
			t.Errorf("%s = %d with shared data, %d with Redis", name, a, b)
		}
	}
	if got := remote.counter("redis.fallbacks"); got != 0 {
		t.Errorf("redis.fallbacks = %d, want 0", got)
	}
}

// outage is one way Redis stops answering, and how it comes back.
type outage struct {
	name string
	// kind is the redis.errors.* counter the failed calls count under.
	kind       string
	start, end func(b *redisBackend)
	// keepsState is true when Redis comes back with its buckets.
	keepsState bool
}

var outages = []outage{
	{"redis killed", "status", func(b *redisBackend) { b.redis.Stop() }, func(b *redisBackend) { b.redis.Start() }, false},
	{"webdis killed", "unreachable", func(b *redisBackend) { b.webdis.Stop() }, func(b *redisBackend) { b.webdis.Start() }, true},
	{"redis stopped past the timeout", "timeout", func(b *redisBackend) { b.redis.Pause() }, func(b *redisBackend) { b.redis.Resume() }, true},
}

// TestRedisFailureModes takes Redis away in three ways (redis-server
// killed, webdis killed, redis-server stopped with SIGSTOP so that calls
// time out) under each failureMode: every request is answered; "local"
// decides with the host's own shared-data buckets (same limit), "open"
// admits, "closed" answers 503 with a JSON-RPC error; after three failures
// the filter stops calling Redis for a while; when Redis is back, its
// decisions come back by themselves.
func TestRedisFailureModes(t *testing.T) {
	const unavailable = `{"jsonrpc":"2.0","id":%d,"error":{"code":-32603,"message":"Rate limit store unavailable"}}`
	for _, mode := range []string{"local", "open", "closed"} {
		for _, o := range outages {
			t.Run(mode+"/"+o.name, func(t *testing.T) {
				backend := startRedisBackend(t)
				plugin := withRedis(`{"shared":{"maxTokens":2,"refillPeriod":"8760h"}}`,
					`,"timeout":"100ms","failureMode":"`+mode+`"`)
				s := startFleet(t, 1, plugin, backend)[0]
				session := s.openSession(t, nil)
				id := 0
				callOnce := func() rawResponse {
					id++
					return s.post(t, toolsCallBody(fmt.Sprint(id), demo.ToolEcho), session)
				}
				if r := callOnce(); r.status != http.StatusOK || s.counter("redis.decisions") != 1 {
					t.Fatalf("before the outage: status %d, redis.decisions %d; want 200 decided by Redis", r.status, s.counter("redis.decisions"))
				}

				o.start(backend)
				var statuses []int
				for range 4 {
					r := callOnce()
					statuses = append(statuses, r.status)
					if mode == "closed" {
						if want := fmt.Sprintf(unavailable, id); string(r.body) != want {
							t.Errorf("call %d: body %s, want %s", id, r.body, want)
						}
					}
				}
				want := map[string][]int{
					// The host's own bucket of 2 is full: Redis decided
					// the first call.
					"local":  {200, 200, 429, 429},
					"open":   {200, 200, 200, 200},
					"closed": {503, 503, 503, 503},
				}[mode]
				if fmt.Sprint(statuses) != fmt.Sprint(want) {
					t.Errorf("during the outage: statuses %v, want %v", statuses, want)
				}
				if got := s.counter("redis.fallbacks"); got != 4 {
					t.Errorf("redis.fallbacks = %d, want 4", got)
				}
				// Three failed calls open the breaker: the fourth is
				// decided without calling.
				if got := s.counter("redis.errors." + o.kind); got != 3 {
					t.Errorf("redis.errors.%s = %d, want 3 (errors: %v)", o.kind, got, redisErrors(s))
				}
				if got := s.counter("redis.decisions"); got != 1 {
					t.Errorf("redis.decisions = %d during the outage, want still 1", got)
				}

				o.end(backend)
				var first rawResponse
				eventually(t, testTimeout, "Redis deciding again", func() bool {
					first = callOnce()
					return s.counter("redis.decisions") == 2
				})
				// The limit is Redis's again: 2 tokens in all.
				after := []int{first.status}
				for range 3 {
					after = append(after, callOnce().status)
				}
				// Redis decided each call, or its rejection of the same
				// call was repeated (rejectLocallyFor).
				if got := s.counter("redis.decisions") + s.counter("redis.local_rejections"); got != 5 {
					t.Errorf("redis.decisions + redis.local_rejections = %d after the outage, want 5", got)
				}
				wantAfter := []int{200, 200, 429, 429} // a new, empty Redis
				if o.keepsState {
					// One token was taken before the outage; a call that
					// timed out may still have run when Redis resumed.
					wantAfter = []int{200, 429, 429, 429}
					if first.status == http.StatusTooManyRequests {
						wantAfter = []int{429, 429, 429, 429}
					}
				}
				if fmt.Sprint(after) != fmt.Sprint(wantAfter) {
					t.Errorf("after the outage: statuses %v, want %v", after, wantAfter)
				}
			})
		}
	}
}

// redisErrors lists the non-zero redis.errors.* counters of a host.
func redisErrors(s *stack) map[string]uint64 {
	out := map[string]uint64{}
	for name, v := range s.host.Metrics() {
		if strings.Contains(name, ".redis.errors.") && v > 0 {
			out[name] = v
		}
	}
	return out
}

// TestRedisBadConfigsRefused: the compiled module refuses to start with a
// broken redis object, with one log line naming the field and the value;
// the previous configuration stays in force.
func TestRedisBadConfigsRefused(t *testing.T) {
	backend := startRedisBackend(t)
	s := startFleet(t, 1, withRedis(`{"shared":{"maxTokens":1,"refillPeriod":"1h"}}`, ""), backend)[0]
	tests := []struct{ redis, line string }{
		{`{"username":"u","password":"p"}`, `redis.cluster: required`},
		{`{"cluster":"webdis","timeout":"50"}`, `redis.timeout: must be a Go duration such as "50ms" or "1s" (units ns, us, ms, s, m, h), got "50"`},
		{`{"cluster":"webdis","timeout":"10s"}`, `redis.timeout: must be at most 5s (every tools/call may wait this long), got "10s"`},
		{`{"cluster":"webdis","failureMode":"fail-open"}`, `redis.failureMode: must be one of "local", "open", "closed", got "fail-open"`},
		{`{"cluster":"webdis","host":"redis"}`, `redis.host: unknown field`},
		{`{"cluster":"webdis","keyPrefix":"{mcprl}"}`, `redis.keyPrefix: must be 1 to 64 bytes`},
	}
	for _, tt := range tests {
		err := s.host.Reconfigure([]byte(`{"shared":{"maxTokens":1,"refillPeriod":"1h"},"redis":` + tt.redis + `}`))
		if err == nil {
			t.Errorf("redis %s: accepted", tt.redis)
			continue
		}
		if !strings.Contains(s.logs.String(), tt.line) {
			t.Errorf("redis %s: no log line says %q (Reconfigure error: %v)", tt.redis, tt.line, err)
		}
	}
	session := s.openSession(t, nil)
	if r := s.post(t, toolsCallBody("1", demo.ToolEcho), session); r.status != http.StatusOK || s.counter("redis.decisions") != 1 {
		t.Errorf("after the refusals: status %d, redis.decisions %d; want the first configuration in force", r.status, s.counter("redis.decisions"))
	}
}

// TestRedisOutageUnderLoad kills Redis while 16 clients keep calling
// through two hosts, then starts it again, with failureMode "local": every
// request is answered (admitted or 429, nothing else, nothing hangs), the
// hosts fall back while Redis is gone, and Redis decides again afterwards.
func TestRedisOutageUnderLoad(t *testing.T) {
	const (
		clients = 16
		each    = 30
	)
	backend := startRedisBackend(t)
	plugin := withRedis(`{"shared":{"maxTokens":1000,"refillPeriod":"1s"}}`, `,"timeout":"100ms"`)
	fleet := startFleet(t, 2, plugin, backend)
	sessions := []map[string]string{fleet[0].openSession(t, nil), fleet[1].openSession(t, nil)}
	var done atomic.Int64
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		for done.Load() < clients*each/4 {
			time.Sleep(time.Millisecond)
		}
		backend.redis.Stop()
		for done.Load() < clients*each/2 {
			time.Sleep(time.Millisecond)
		}
		backend.redis.Start()
	}()
	statuses := make(chan int, clients*each)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s := fleet[c%2]
				statuses <- s.post(t, toolsCallBody(fmt.Sprint(c*1000+i), demo.ToolEcho), sessions[c%2]).status
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	<-restarted
	close(statuses)
	for status := range statuses {
		if status != http.StatusOK && status != http.StatusTooManyRequests {
			t.Errorf("status %d, want 200 or 429", status)
		}
	}
	if got := fleetCounter(fleet, "redis.fallbacks"); got == 0 {
		t.Error("no fallback while Redis was down")
	}
	for i, s := range fleet {
		before := s.counter("redis.decisions")
		eventually(t, testTimeout, fmt.Sprintf("host %d: Redis deciding again", i), func() bool {
			s.post(t, toolsCallBody("1", demo.ToolEcho), sessions[i])
			return s.counter("redis.decisions") > before
		})
	}
}

// TestRedisRepeatsRejections: with rejectLocallyFor the compiled filter
// repeats Redis's rejection of the same call without asking Redis, with a
// Retry-After counting down from Redis's, and asks again once that time
// has passed; with "0s" Redis decides every call.
func TestRedisRepeatsRejections(t *testing.T) {
	const spent = `{"shared":{"maxTokens":1,"refillPeriod":"1000h"}}`
	tests := []struct {
		name, extra string
		// repeats is whether rejections are repeated: then the admission
		// and each burst's first rejection ask Redis (more if a burst
		// outlasts rejectLocallyFor), and the others are repeated.
		repeats bool
	}{
		{"for 300ms", `,"rejectLocallyFor":"300ms"`, true},
		{"off", `,"rejectLocallyFor":"0s"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFleet(t, 1, withRedis(spent, tt.extra), startRedisBackend(t))[0]
			session := s.openSession(t, nil)
			call := func(id int) rawResponse {
				return s.post(t, toolsCallBody(strconv.Itoa(id), demo.ToolEcho), session)
			}
			if r := call(1); r.status != http.StatusOK {
				t.Fatalf("first call: status %d, want 200", r.status)
			}
			id := 1
			for burst := range 2 {
				if burst > 0 {
					time.Sleep(300 * time.Millisecond)
				}
				first := -1
				for range 4 {
					id++
					r := call(id)
					after, err := strconv.Atoi(r.header.Get("Retry-After"))
					if r.status != http.StatusTooManyRequests || err != nil {
						t.Fatalf("call %d: status %d, Retry-After %q; want 429 with a Retry-After", id, r.status, r.header.Get("Retry-After"))
					}
					// 1000 hours, counting down.
					if first < 0 {
						first = after
					}
					if after > first || after < first-1 || after > 3_600_000 || after < 3_599_000 {
						t.Errorf("call %d: Retry-After %d after %d; want Redis's, counting down from 3600000", id, after, first)
					}
				}
			}
			decided, local := s.counter("redis.decisions"), s.counter("redis.local_rejections")
			if decided+local != 9 || tt.repeats && (decided < 3 || local == 0) || !tt.repeats && local != 0 {
				t.Errorf("redis.decisions = %d, redis.local_rejections = %d; want 9 in all, repeated rejections %t", decided, local, tt.repeats)
			}
			s.expectCounters(t, map[string]uint64{"redis.fallbacks": 0, "tools_call.admitted": 1, "tools_call.rejected": 8})
		})
	}
}
