package host

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bootstrapYAML is a bootstrap for the host tests: one listener, one wasm
// filter (policy, buffer limit and idle timeout as given), the router and
// the mcp_server cluster.
func bootstrapYAML(policy string, bufferLimit int, idle string) string {
	extra := ""
	if policy != "" {
		extra = "failure_policy: " + policy + "\n                reload_config: { backoff: { base_interval: 0.05s } }"
	}
	limit := ""
	if bufferLimit > 0 {
		limit = "per_connection_buffer_limit_bytes: " + strconv.Itoa(bufferLimit)
	}
	if idle == "" {
		idle = "5s"
	}
	return fmt.Sprintf(`
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    %s
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: t
          stream_idle_timeout: %s
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: mcp_server, timeout: 0s }
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: t
                root_id: t
                %s
                vm_config:
                  vm_id: t
                  code: { local: { filename: placeholder.wasm } }
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: mcp_server
    type: STATIC
    load_assignment:
      cluster_name: mcp_server
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
`, limit, idle, extra)
}

// upstreamServer answers every request 200 with "upstream:" and the body
// it received, and counts requests.
func upstreamServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("content-type", "text/plain")
		fmt.Fprintf(w, "upstream:%s", b)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

type hostConfig struct {
	wasm         string
	plugin       string
	policy       string
	bufferLimit  int
	idle         string
	workers      int
	chunkSizeFor func(*http.Request) int
	properties   func(*http.Request) map[string][]byte
	upstream     string
	watchdog     time.Duration
}

func startHost(t *testing.T, c hostConfig) *Host {
	t.Helper()
	if c.workers == 0 {
		c.workers = 1
	}
	h, err := New(Options{
		ConfigYAML:       []byte(bootstrapYAML(c.policy, c.bufferLimit, c.idle)),
		ClusterAddresses: map[string]string{"mcp_server": c.upstream},
		WasmPath:         c.wasm,
		PluginConfig:     []byte(c.plugin),
		Workers:          c.workers,
		ChunkSizeFor:     c.chunkSizeFor,
		Properties:       c.properties,
		CallWatchdog:     c.watchdog,
		Log:              io.Discard,
		LogLevel:         "critical",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	return h
}

func post(t *testing.T, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func toolsCall(id int, tool string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool)
}

// TestShippedFilterThroughHost runs envoy/local.yaml as a user would:
// tools/call is admitted 5 times, then answered 429 with Retry-After and a
// JSON-RPC error, tools/list always passes, and the counters show up on the
// admin listener under Envoy's names.
func TestShippedFilterThroughHost(t *testing.T) {
	readArtifact(t, shippedWasm, "build")
	up, hits := upstreamServer(t)
	h, err := New(Options{
		ConfigPath: localYAML, BaseDir: "../..", ListenAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0",
		ClusterAddresses: map[string]string{"mcp_server": up.Listener.Addr().String()},
		Log:              io.Discard, LogLevel: "critical",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"content-type": "application/json", "accept": "application/json, text/event-stream"}
	var statuses []int
	for i := 1; i <= 7; i++ {
		resp, body := post(t, h.URL()+"/mcp", hdr, toolsCall(i, "echo"))
		statuses = append(statuses, resp.StatusCode)
		if i == 6 {
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Server") != "envoy" ||
				!strings.Contains(body, `"id":6`) || !strings.Contains(body, `"code":-32029`) {
				t.Errorf("rejection: %v %s", resp.Header, body)
			}
		}
	}
	if fmt.Sprint(statuses) != "[200 200 200 200 200 429 429]" {
		t.Fatalf("statuses = %v", statuses)
	}
	if resp, _ := post(t, h.URL()+"/mcp", hdr, `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`); resp.StatusCode != 200 {
		t.Fatalf("tools/list after the limit: %d", resp.StatusCode)
	}
	if hits.Load() != 6 {
		t.Fatalf("upstream saw %d requests, want 6", hits.Load())
	}
	resp, err := http.Get("http://" + h.AdminAddr() + "/stats/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	prom, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(prom, []byte("# TYPE ")) || bytes.Contains(prom, []byte("envoy_mcp")) || bytes.Contains(prom, []byte("wasmcustom")) {
		t.Fatalf("prometheus output:\n%s", prom)
	}
	var admitted, rejected uint64
	for name, v := range h.Metrics() {
		if strings.HasSuffix(name, "tools_call.admitted") {
			admitted = v
		}
		if strings.HasSuffix(name, "tools_call.rejected") {
			rejected = v
		}
	}
	if admitted != 5 || rejected != 2 {
		t.Fatalf("metrics admitted=%d rejected=%d: %v", admitted, rejected, h.Metrics())
	}
	if resp, err := http.Get("http://" + h.AdminAddr() + "/ready"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/ready: %v %v", resp, err)
	}
}

// TestChunkingAtEveryBoundary splits one body at every byte position: a
// module that buffers until the end of stream must always see the whole
// body, and be told its whole size.
func TestChunkingAtEveryBoundary(t *testing.T) {
	up, _ := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: tinyModule(t), upstream: up.Listener.Addr().String(),
		chunkSizeFor: func(r *http.Request) int { n, _ := strconv.Atoi(r.Header.Get("x-chunk")); return n }})
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search"}}`
	for chunk := 1; chunk <= len(body); chunk++ {
		resp, got := post(t, h.URL()+"/x", map[string]string{"x-action": "body", "x-chunk": strconv.Itoa(chunk)}, body)
		if resp.StatusCode != 200 || got != body || resp.Header.Get("x-body-size") != strconv.Itoa(len(body)) {
			t.Fatalf("chunk %d: status %d size %q body %q", chunk, resp.StatusCode, resp.Header.Get("x-body-size"), got)
		}
	}
}

func TestBufferLimitAnswers413(t *testing.T) {
	up, hits := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: tinyModule(t), upstream: up.Listener.Addr().String(), bufferLimit: 1024,
		chunkSizeFor: func(*http.Request) int { return 100 }})
	resp, body := post(t, h.URL()+"/x", map[string]string{"x-action": "body"}, strings.Repeat("a", 1025))
	if resp.StatusCode != 413 || body != "Payload Too Large" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	resp, body = post(t, h.URL()+"/x", map[string]string{"x-action": "body"}, strings.Repeat("a", 1024))
	if resp.StatusCode != 200 || len(body) != 1024 {
		t.Fatalf("at the limit: status %d len %d", resp.StatusCode, len(body))
	}
	if hits.Load() != 0 {
		t.Fatalf("upstream hit %d times", hits.Load())
	}
}

func TestLocalReplyAndPauseContinue(t *testing.T) {
	up, hits := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: tinyModule(t), plugin: "tick", upstream: up.Listener.Addr().String()})
	resp, body := post(t, h.URL()+"/x", map[string]string{"x-action": "local"}, "")
	if resp.StatusCode != 418 || body != "teapot" || resp.Header.Get("x-tiny") != "yes" || resp.Header.Get("content-type") != "text/plain" {
		t.Fatalf("local reply: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	// Paused at the headers, resumed from the root context's tick.
	resp, body = post(t, h.URL()+"/x", map[string]string{"x-action": "pause"}, "payload")
	if resp.StatusCode != 200 || body != "upstream:payload" {
		t.Fatalf("paused request: %d %q", resp.StatusCode, body)
	}
	if hits.Load() != 1 {
		t.Fatalf("upstream hits %d, want 1", hits.Load())
	}
}

// TestFailurePolicies: a trap fails the VM; FAIL_CLOSED answers 503 now
// and later, FAIL_OPEN lets requests through, FAIL_RELOAD answers 503 for
// the failing request and serves the next ones with a new VM.
func TestFailurePolicies(t *testing.T) {
	tests := []struct {
		policy      string
		trapStatus  int
		afterStatus int
	}{
		{"FAIL_CLOSED", 503, 503},
		{"FAIL_OPEN", 200, 200},
		{"FAIL_RELOAD", 503, 200},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			up, _ := upstreamServer(t)
			h := startHost(t, hostConfig{wasm: tinyModule(t), policy: tt.policy, upstream: up.Listener.Addr().String()})
			if resp, _ := post(t, h.URL()+"/x", nil, "ok"); resp.StatusCode != 200 {
				t.Fatalf("before the trap: %d", resp.StatusCode)
			}
			resp, _ := post(t, h.URL()+"/x", map[string]string{"x-action": "trap"}, "")
			if resp.StatusCode != tt.trapStatus {
				t.Fatalf("trapping request: %d, want %d", resp.StatusCode, tt.trapStatus)
			}
			if h.Traps() != 1 && !waitFor(func() bool { return h.Traps() == 1 }) {
				t.Fatalf("traps = %d", h.Traps())
			}
			time.Sleep(60 * time.Millisecond) // past the reload backoff
			var last int
			for i := 0; i < 3; i++ {
				resp, _ := post(t, h.URL()+"/x", nil, "ok")
				last = resp.StatusCode
			}
			if last != tt.afterStatus {
				t.Fatalf("after the trap: %d, want %d", last, tt.afterStatus)
			}
		})
	}
}

// TestCallWatchdog: with Options.CallWatchdog, a module that loops fails
// its VM after the deadline and failure_policy answers (FAIL_CLOSED: 503),
// instead of hanging the request.
func TestCallWatchdog(t *testing.T) {
	up, _ := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: tinyModule(t), policy: "FAIL_CLOSED", upstream: up.Listener.Addr().String(),
		watchdog: 200 * time.Millisecond})
	if resp, _ := post(t, h.URL()+"/x", nil, "ok"); resp.StatusCode != 200 {
		t.Fatalf("before the loop: %d", resp.StatusCode)
	}
	start := time.Now()
	resp, _ := post(t, h.URL()+"/x", map[string]string{"x-action": "loop"}, "")
	if resp.StatusCode != 503 {
		t.Fatalf("looping request: %d, want 503", resp.StatusCode)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("the watchdog took %v to end a 200ms call", elapsed)
	}
	if !waitFor(func() bool { return h.Traps() == 1 }) {
		t.Fatalf("traps = %d, want 1", h.Traps())
	}
}

func waitFor(cond func() bool) bool {
	for i := 0; i < 100; i++ {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestSSEStreamsThrough: each event reaches the client while the upstream
// is still writing (no buffering in the host).
func TestSSEStreamsThrough(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/event-stream")
		fmt.Fprint(w, "event: message\ndata: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "event: message\ndata: second\n\n")
	}))
	defer up.Close()
	h := startHost(t, hostConfig{wasm: tinyModule(t), upstream: up.Listener.Addr().String()})
	resp, err := http.Get(h.URL() + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	got := make(chan string, 1)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil || strings.HasPrefix(line, "data: ") {
				got <- line
				return
			}
		}
	}()
	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive while the stream was open")
	}
	close(release)
	rest, _ := io.ReadAll(r)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest %q", rest)
	}
}

// TestReconfigure keeps the VMs and their shared data, and refuses a
// configuration on_configure rejects.
func TestReconfigure(t *testing.T) {
	readArtifact(t, shippedWasm, "build")
	up, _ := upstreamServer(t)
	limit3 := `{"shared":{"maxTokens":3,"refillPeriod":"1m"}}`
	h := startHost(t, hostConfig{wasm: shippedWasm, plugin: limit3, upstream: up.Listener.Addr().String(), workers: 2})
	hdr := map[string]string{"content-type": "application/json", "accept": "application/json, text/event-stream"}
	call := func() int { resp, _ := post(t, h.URL()+"/mcp", hdr, toolsCall(1, "echo")); return resp.StatusCode }
	for i := 0; i < 3; i++ {
		if s := call(); s != 200 {
			t.Fatalf("call %d: %d", i, s)
		}
	}
	if s := call(); s != 429 {
		t.Fatalf("4th call: %d", s)
	}
	// Same shared bucket, one more tool: the shared bucket's state stays.
	if err := h.Reconfigure([]byte(`{"shared":{"maxTokens":3,"refillPeriod":"1m"},"tools":[{"name":"search","shared":{"maxTokens":1,"refillPeriod":"1m"}}]}`)); err != nil {
		t.Fatal(err)
	}
	if s := call(); s != 429 {
		t.Fatalf("after reconfiguration: %d, want 429 (state kept)", s)
	}
	if err := h.Reconfigure([]byte(`{"shared":{"maxTokens":0}}`)); err == nil {
		t.Fatal("an invalid configuration was accepted")
	}
	if s := call(); s != 429 {
		t.Fatalf("after a refused reconfiguration: %d", s)
	}
	// A new bucket (other parameters) starts full.
	if err := h.Reconfigure([]byte(`{"shared":{"maxTokens":10,"refillPeriod":"1m"}}`)); err != nil {
		t.Fatal(err)
	}
	if s := call(); s != 200 {
		t.Fatalf("with a new bucket: %d", s)
	}
}

// TestWorkersShareOneBucketExactly: 64 concurrent clients on 4 worker VMs
// race on one bucket of 20; exactly 20 are admitted (the host's shared
// data CAS must be atomic across VMs running in parallel).
func TestWorkersShareOneBucketExactly(t *testing.T) {
	readArtifact(t, shippedWasm, "build")
	up, hits := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: shippedWasm, plugin: `{"shared":{"maxTokens":20,"refillPeriod":"1h"}}`,
		upstream: up.Listener.Addr().String(), workers: 4})
	var admitted, rejected atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}} // own connection: spread over workers
			for i := 0; i < 3; i++ {
				req, _ := http.NewRequest(http.MethodPost, h.URL()+"/mcp", strings.NewReader(toolsCall(c*10+i, "echo")))
				req.Header.Set("content-type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					admitted.Add(1)
				case 429:
					rejected.Add(1)
				default:
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}(c)
	}
	wg.Wait()
	if admitted.Load() != 20 || rejected.Load() != 64*3-20 || hits.Load() != 20 {
		t.Fatalf("admitted %d rejected %d upstream %d", admitted.Load(), rejected.Load(), hits.Load())
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no bootstrap", Options{}, "no bootstrap"},
		{"unknown cluster override", Options{ConfigYAML: []byte(bootstrapYAML("", 0, "")), ClusterAddresses: map[string]string{"nope": "127.0.0.1:1"}}, "does not define"},
		{"bad envoy version", Options{ConfigYAML: []byte(bootstrapYAML("", 0, "")), EnvoyVersion: "1.20"}, "before 1.33"},
		{"bad log level", Options{ConfigYAML: []byte(bootstrapYAML("", 0, "")), LogLevel: "loud"}, "log level"},
		{"missing wasm", Options{ConfigYAML: []byte(bootstrapYAML("", 0, "")), WasmPath: "/nonexistent.wasm"}, "nonexistent.wasm"},
		{"plugin refuses its configuration", Options{ConfigYAML: []byte(bootstrapYAML("", 0, "")), WasmPath: "TINY", PluginConfig: []byte("fail")}, "proxy_on_configure returned false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Log = io.Discard
			if tt.opts.WasmPath == "TINY" {
				tt.opts.WasmPath = tinyModule(t)
			}
			h, err := New(tt.opts)
			if err == nil {
				h.Close()
				t.Fatal("New accepted the options")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyPath != "" && tinyErr == nil {
		os.RemoveAll(strings.TrimSuffix(tinyPath, "/tiny.wasm"))
	}
	os.Exit(code)
}

// TestConnectionManagerBehaviour covers what the HTTP connection manager
// and the router add around the filters: x-request-id and
// x-forwarded-proto on the upstream request, the client's Host forwarded,
// hop-by-hop headers dropped, and 503 when the upstream refuses the
// connection.
func TestConnectionManagerBehaviour(t *testing.T) {
	seen := make(chan http.Header, 1)
	hosts := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		hosts <- r.Host
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, "ok")
	}))
	defer up.Close()
	h := startHost(t, hostConfig{wasm: tinyModule(t), upstream: up.Listener.Addr().String()})
	req, _ := http.NewRequest(http.MethodGet, h.URL()+"/a", nil)
	req.Host = "mcp.example:8443"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := <-seen
	if len(got.Get("X-Request-Id")) != 36 || got.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("upstream headers %v", got)
	}
	if host := <-hosts; host != "mcp.example:8443" {
		t.Errorf("upstream Host %q", host)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Server") != "envoy" {
		t.Errorf("response %d %v", resp.StatusCode, resp.Header)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	addr := closed.Listener.Addr().String()
	closed.Close()
	h2 := startHost(t, hostConfig{wasm: tinyModule(t), upstream: addr})
	resp, body := post(t, h2.URL()+"/x", nil, "data")
	if resp.StatusCode != 503 || !strings.HasPrefix(body, "upstream connect error") {
		t.Fatalf("refused upstream: %d %q", resp.StatusCode, body)
	}
}

// TestCalloutsPropertiesQueuesMetrics exercises the asynchronous host calls
// and the ones a filter reads its environment with: an HTTP callout to a
// cluster while the stream waits, properties (one set by the test, as an
// mTLS peer would), a shared queue delivering to on_queue_ready, and the
// three metric types.
func TestCalloutsPropertiesQueuesMetrics(t *testing.T) {
	up, hits := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: tinyModule(t), upstream: up.Listener.Addr().String(),
		properties: func(r *http.Request) map[string][]byte {
			if id := r.Header.Get("x-spiffe"); id != "" {
				return map[string][]byte{"connection.uri_san_peer_certificate": []byte(id)}
			}
			return nil
		}})
	resp, body := post(t, h.URL()+"/x", map[string]string{"x-action": "callout"}, "")
	if resp.StatusCode != 200 || body != "callout 200 upstream:" || hits.Load() != 1 {
		t.Fatalf("callout: %d %q (upstream hits %d)", resp.StatusCode, body, hits.Load())
	}
	resp, body = post(t, h.URL()+"/p?q=1", map[string]string{"x-action": "props", "x-spiffe": "spiffe://cluster.local/ns/a/sa/b"}, "")
	parts := strings.Split(body, "|")
	if resp.StatusCode != 200 || len(parts) != 5 || !strings.HasPrefix(parts[0], "127.0.0.1:") ||
		parts[1] != "spiffe://cluster.local/ns/a/sa/b" || parts[2] != "t" || parts[3] != "/p?q=1" || parts[4] != "props" {
		t.Fatalf("props: %d %q", resp.StatusCode, body)
	}
	if _, body = post(t, h.URL()+"/p", map[string]string{"x-action": "props"}, ""); strings.Split(body, "|")[1] != "<none>" {
		t.Fatalf("uri_san_peer_certificate on plaintext: %q, want not found", body)
	}
	if resp, _ = post(t, h.URL()+"/queued-path", map[string]string{"x-action": "queue"}, ""); resp.StatusCode != 200 {
		t.Fatalf("queue request: %d", resp.StatusCode)
	}
	if !waitFor(func() bool {
		v, _, _ := h.impl.env.SharedData.Get("t", "queued")
		return string(v) == "/queued-path"
	}) {
		t.Fatal("on_queue_ready did not store the queued value")
	}
	post(t, h.URL()+"/x", nil, "12345")
	// The stream ends (and the gauge drops) just after the client has the
	// response.
	waitFor(func() bool { return h.Metrics()["tiny.inflight"] == 0 })
	m := h.Metrics()
	if m["tiny.requests"] != 5 || m["tiny.inflight"] != 0 || m["tiny.body_bytes.count"] == 0 || m["tiny.body_bytes.sum"] < 5 {
		t.Fatalf("metrics %v", m)
	}
}

// TestH2C: with codec_type AUTO the listener also speaks HTTP/2 with prior
// knowledge (h2c), through the filter to the upstream.
func TestH2C(t *testing.T) {
	up, _ := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: tinyModule(t), upstream: up.Listener.Addr().String()})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}}
	resp, err := client.Post(h.URL()+"/x", "text/plain", strings.NewReader("over h2c"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(body) != "upstream:over h2c" {
		t.Fatalf("h2c: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
}

// syncBuffer is a log writer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestModuleLogs: proxy_log lines and the module's stderr reach the log
// with their level and Envoy's plugin prefix, below-level lines are
// dropped, and a failed VM is reported.
func TestModuleLogs(t *testing.T) {
	up, _ := upstreamServer(t)
	var logs syncBuffer
	h, err := New(Options{
		ConfigYAML: []byte(bootstrapYAML("", 0, "")), WasmPath: tinyModule(t), Workers: 1,
		ClusterAddresses: map[string]string{"mcp_server": up.Listener.Addr().String()},
		Log:              &logs, LogLevel: "info",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	post(t, h.URL()+"/x", map[string]string{"x-action": "trap"}, "")
	waitFor(func() bool { return strings.Contains(logs.String(), "[critical]") })
	out := logs.String()
	for _, want := range []string{
		"[info][wasm] wasm log t t t: tinymodule configured: ",
		"[error][wasm] wasm log t t t: ", // the Go runtime's panic output on stderr
		"[critical][wasm] worker 0",
		"Function: proxy_on_request_headers failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[debug]") || strings.Contains(out, "[trace]") {
		t.Errorf("log has lines below info:\n%s", out)
	}
}
