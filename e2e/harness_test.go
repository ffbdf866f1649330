package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host"
)

const (
	// wasmRelPath is the filter `make build` produces, from this folder.
	wasmRelPath = "../build/mcp-ratelimit.wasm"
	// bootstrapPath is the Envoy bootstrap the tests load (overrides aside).
	bootstrapPath = "testdata/bootstrap.yaml"
	// clusterName is the bootstrap's upstream cluster, pointed at the demo.
	clusterName = "mcp_server"
	// rootID is the bootstrap's root_id; the filter names its metrics after it.
	rootID = "mcp-ratelimit"
	// userHeader carries the user identity in the per-user tests.
	userHeader = "x-user-id"
	// legacyProtocol is the newest MCP version with sessions, initialize and
	// the standalone GET stream; the SDK client speaks 2026-07-28 by default.
	legacyProtocol = "2025-11-25"
	// defaultErrorCode is the filter's default JSON-RPC error code.
	defaultErrorCode = -32029
	// rateLimitMessage is the JSON-RPC error message of a rejection.
	rateLimitMessage = "Rate limit exceeded"
	// testTimeout bounds every single wait in these tests.
	testTimeout = 30 * time.Second
)

// wasmPath is the absolute path of the filter under test, set by TestMain.
var wasmPath string

// TestMain refuses to run without the built filter (the tests fail rather
// than skip) and, after a successful run, fails if goroutines leaked.
func TestMain(m *testing.M) {
	abs, err := filepath.Abs(wasmRelPath)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the filter %s is missing (%v): run `make build` (or `make e2e`) first\n", wasmRelPath, err)
		os.Exit(1)
	}
	wasmPath = abs
	baseline := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if leaked := goroutineLeak(baseline, 10*time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "e2e: goroutines leaked (baseline %d):\n%s\n", baseline, leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// goroutineLeak waits up to timeout for the goroutine count to come back to
// baseline; if it does not, it returns the stacks of all goroutines.
func goroutineLeak(baseline int, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			return string(buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ""
}

// stackOptions configures one demo server + host pair.
type stackOptions struct {
	plugin    string // plugin configuration JSON
	workers   int    // worker VMs; 0 keeps the host's default
	chunkSize int    // request body chunk size; 0 keeps the host's default
	// chunkSizeFor, when set, picks the chunk size of each request.
	chunkSizeFor func(*http.Request) int
	// upstream, when set, is the host:port of an MCP server the test
	// started itself; no demo server is started and stack.demo is nil.
	upstream string
}

// stack is a demo MCP server (or stackOptions.upstream) behind the local
// host running the filter.
type stack struct {
	demo      *demo.Server // nil with stackOptions.upstream
	host      *host.Host
	endpoint  string // the MCP endpoint through the host
	adminURL  string // the host's admin listener
	transport *http.Transport
	client    *http.Client // for raw requests to the host
	logs      *lockedBuffer
}

// startStack starts a demo server and a host in front of it; both stop
// when the test ends. The host's log is printed when the test failed.
func startStack(t testing.TB, opts stackOptions) *stack {
	t.Helper()
	var d *demo.Server
	upstreamAddr := opts.upstream
	closeUpstream := func() {}
	if upstreamAddr == "" {
		d = demo.New(demo.Options{})
		upstream := httptest.NewServer(d.Handler())
		upstreamAddr, closeUpstream = upstream.Listener.Addr().String(), upstream.Close
	}
	logs := &lockedBuffer{}
	h, err := host.New(host.Options{
		ConfigPath:       bootstrapPath,
		ListenAddress:    "127.0.0.1:0",
		AdminAddress:     "127.0.0.1:0",
		ClusterAddresses: map[string]string{clusterName: upstreamAddr},
		WasmPath:         wasmPath,
		PluginConfig:     []byte(opts.plugin),
		Workers:          opts.workers,
		ChunkSize:        opts.chunkSize,
		ChunkSizeFor:     opts.chunkSizeFor,
		Log:              logs,
	})
	if err != nil {
		closeUpstream()
		t.Fatalf("host.New with plugin config %s: %v", opts.plugin, err)
	}
	if err := h.Start(); err != nil {
		_ = h.Close()
		closeUpstream()
		t.Fatalf("host.Start: %v\nhost log:\n%s", err, logs)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 128, ResponseHeaderTimeout: testTimeout}
	s := &stack{
		demo:      d,
		host:      h,
		endpoint:  h.URL() + demo.DefaultPath,
		adminURL:  "http://" + h.AdminAddr(),
		transport: transport,
		client:    &http.Client{Transport: transport, Timeout: testTimeout},
		logs:      logs,
	}
	t.Cleanup(func() {
		if traps := h.Traps(); traps != 0 {
			t.Errorf("the module trapped %d times", traps)
		}
		transport.CloseIdleConnections()
		if d != nil {
			if err := d.Close(); err != nil {
				t.Errorf("closing the demo sessions: %v", err)
			}
		}
		if err := h.Close(); err != nil {
			t.Errorf("host.Close: %v", err)
		}
		closeUpstream()
		if t.Failed() {
			t.Logf("host log:\n%s", logs)
		}
	})
	return s
}

// clientOptions configures one SDK client session.
type clientOptions struct {
	user     string             // sent in userHeader when not empty
	protocol string             // MCP version to ask for; "" is the SDK's default (2026-07-28)
	mcp      *mcp.ClientOptions // handlers
}

// connect opens an SDK client session through the host; it is closed when
// the test ends.
func (s *stack) connect(t testing.TB, opts clientOptions) *mcp.ClientSession {
	t.Helper()
	httpClient := &http.Client{Transport: s.transport}
	if opts.user != "" {
		httpClient.Transport = headerTransport{base: s.transport, name: userHeader, value: opts.user}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "v0"}, opts.mcp)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   s.endpoint,
		HTTPClient: httpClient,
		// No silent reconnects: a stream the host breaks must show.
		MaxRetries: -1,
	}, &mcp.ClientSessionOptions{ProtocolVersion: opts.protocol})
	if err != nil {
		t.Fatalf("connecting the MCP client (protocol %q, user %q): %v", opts.protocol, opts.user, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// headerTransport adds one header to every request.
type headerTransport struct {
	base        http.RoundTripper
	name, value string
}

// RoundTrip implements http.RoundTripper.
func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return h.base.RoundTrip(r)
}

// callTool calls a tool and turns a tool error (isError) into an error too.
func callTool(cs *mcp.ClientSession, name string, args any) error {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("tool %s failed: %v", name, res.Content)
	}
	return nil
}

// isTooManyRequests reports whether err is the SDK client's report of an
// HTTP 429: the SDK (mcp/streamable.go checkResponse) treats 429 as a
// transient transport error and reports only the status text.
func isTooManyRequests(err error) bool {
	return err != nil && strings.Contains(err.Error(), http.StatusText(http.StatusTooManyRequests))
}

// rateLimitError extracts the JSON-RPC rate-limit error the SDK client
// hands over when the filter answers with HTTP 200.
func rateLimitError(err error) (*jsonrpc.Error, bool) {
	var wire *jsonrpc.Error
	if errors.As(err, &wire) {
		return wire, true
	}
	return nil, false
}

// rawResponse is a response read in full.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// post sends a JSON-RPC body to the MCP endpoint through the host, as an
// MCP client would, with extra headers.
func (s *stack) post(t testing.TB, body string, header map[string]string) rawResponse {
	t.Helper()
	resp, err := s.tryPost(body, header)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tryPost is post for a goroutine other than the test's: it returns the
// failure instead of ending the test.
func (s *stack) tryPost(body string, header map[string]string) (rawResponse, error) {
	req, err := http.NewRequest(http.MethodPost, s.endpoint, strings.NewReader(body))
	if err != nil {
		return rawResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return rawResponse{}, fmt.Errorf("POST %s: %w", body, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return rawResponse{}, fmt.Errorf("reading the response to %s: %w", body, err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// openSession runs the MCP 2025-06-18 handshake with raw requests and
// returns the headers later requests of the session carry.
func (s *stack) openSession(t testing.TB, extra map[string]string) map[string]string {
	t.Helper()
	const version = "2025-06-18"
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + version +
		`","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
	resp := s.post(t, init, extra)
	sid := resp.header.Get("Mcp-Session-Id")
	if resp.status != http.StatusOK || sid == "" {
		t.Fatalf("initialize: status %d, session %q, body %s", resp.status, sid, resp.body)
	}
	header := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": version}
	for k, v := range extra {
		header[k] = v
	}
	if resp := s.post(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, header); resp.status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: status %d, body %s", resp.status, resp.body)
	}
	return header
}

// toolArgs are valid arguments for each demo tool, as raw JSON.
var toolArgs = map[string]string{
	demo.ToolSearch:    `{"query":"token"}`,
	demo.ToolFetch:     `{"uri":"demo://docs/envoy"}`,
	demo.ToolEcho:      `{"text":"hi"}`,
	demo.ToolAdd:       `{"a":1,"b":2}`,
	demo.ToolCountdown: `{"from":1}`,
}

// argsFor returns valid arguments for a demo tool, for the SDK client.
func argsFor(tool string) json.RawMessage { return json.RawMessage(toolArgs[tool]) }

// toolsCallBody is a tools/call request; id is raw JSON, "" for none.
func toolsCallBody(id, tool string) string {
	idMember := ""
	if id != "" {
		idMember = `"id":` + id + `,`
	}
	return `{"jsonrpc":"2.0",` + idMember + `"method":"tools/call","params":{"name":"` + tool + `","arguments":` + toolArgs[tool] + `}}`
}

// resourcesReadBody is a resources/read request; id is raw JSON.
func resourcesReadBody(id, uri string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"resources/read","params":{"uri":"` + uri + `"}}`
}

// expectRejection checks a rate-limit reply byte for byte: status,
// content-type, Retry-After and the JSON-RPC error body with the request's
// raw id (or none). It returns the advertised wait in seconds.
func expectRejection(t testing.TB, resp rawResponse, status, code int, rawID string) int {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status %d, want %d; body %s", resp.status, status, resp.body)
	}
	if mediaType, _, err := mime.ParseMediaType(resp.header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		t.Errorf("content-type %q, want application/json", resp.header.Get("Content-Type"))
	}
	retryAfter, err := strconv.Atoi(resp.header.Get("Retry-After"))
	if err != nil || retryAfter < 1 {
		t.Fatalf("Retry-After %q, want a whole number of seconds >= 1", resp.header.Get("Retry-After"))
	}
	idMember := ""
	if rawID != "" {
		idMember = `"id":` + rawID + `,`
	}
	want := fmt.Sprintf(`{"jsonrpc":"2.0",%s"error":{"code":%d,"message":%q,"data":{"retryAfterSeconds":%d}}}`,
		idMember, code, rateLimitMessage, retryAfter)
	if got := string(bytes.TrimSpace(resp.body)); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	return retryAfter
}

// expectPassed checks that a response came from the demo server, not from
// the filter: a 2xx answer that is not a rate-limit error.
func expectPassed(t testing.TB, what string, resp rawResponse) {
	t.Helper()
	if resp.status < 200 || resp.status > 299 || bytes.Contains(resp.body, []byte(rateLimitMessage)) {
		t.Fatalf("%s: status %d, body %s; want it passed to the server", what, resp.status, resp.body)
	}
}

// statName is the name the filter gives one of its counters ("/stats" name).
func statName(suffix string) string { return "mcp_ratelimit." + rootID + "." + suffix }

// prometheusName is how Envoy's /stats/prometheus shows a Wasm counter: the
// "wasmcustom." namespace is stripped and, since it is a custom namespace,
// no "envoy_" prefix is added; every byte outside [a-zA-Z0-9_] becomes '_'
// (envoy source/server/admin/prometheus_stats.cc, sanitizeName and
// metricName).
func prometheusName(stat string) string {
	b := []byte(stat)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// prometheus scrapes the admin listener's /stats/prometheus into name ->
// value (labels, if any, are dropped and their values summed).
func (s *stack) prometheus(t testing.TB) map[string]float64 {
	t.Helper()
	resp, err := s.client.Get(s.adminURL + "/stats/prometheus")
	if err != nil {
		t.Fatalf("GET /stats/prometheus: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /stats/prometheus: status %d", resp.StatusCode)
	}
	values := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("malformed Prometheus line %q", line)
		}
		name, value := line[:i], line[i+1:]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("malformed Prometheus value in %q: %v", line, err)
		}
		values[name] += v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading /stats/prometheus: %v", err)
	}
	return values
}

// expectCounters checks the filter's counters (by their suffix after
// "mcp_ratelimit.<root id>.") both in the host's snapshot and on
// /stats/prometheus.
func (s *stack) expectCounters(t testing.TB, want map[string]uint64) {
	t.Helper()
	snapshot := s.host.Metrics()
	scraped := s.prometheus(t)
	for suffix, n := range want {
		name := statName(suffix)
		if got, ok := snapshot[name]; !ok || got != n {
			t.Errorf("host.Metrics()[%q] = %d (present %v), want %d", name, got, ok, n)
		}
		prom := prometheusName(name)
		if got, ok := scraped[prom]; !ok || got != float64(n) {
			t.Errorf("/stats/prometheus %s = %v (present %v), want %d", prom, got, ok, n)
		}
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// decodeJSON unmarshals or fails the test.
func decodeJSON(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
}
