package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host"
)

// The readers of the differential test: real MCP servers (and one model of
// a server's reader) whose tools count their runs, each behind its own e2e
// host running the filter.

const (
	// nodeServerScript starts the TypeScript SDK servers (express and web).
	nodeServerScript = "differential-server.mjs"
	// pythonReaderScript is the json.loads reader (see its docstring).
	pythonReaderScript = "testdata/differential_reader.py"
	// diffChunkHeader carries the chunk size the host splits a request body
	// into before the filter sees it; 0 or absent keeps the host's default.
	diffChunkHeader = "X-Diff-Chunk"
)

// diffTools are the tools every differential server offers, each with its
// own bucket in the filter: plain names, names that differ only in case,
// in Unicode normalisation (NFC "é", NFD "e" + U+0301), in width
// (fullwidth "ｔ"), and the UTF-7 spelling of "t" taken literally.
var diffTools = []string{"t", "a", "b", "T", "\u00e9", "e\u0301", "\uff54", "+AHQ-"}

// diffReader is one upstream of the differential test behind its own host.
type diffReader struct {
	name string
	host *host.Host
	base string // the host's listener, http://host:port
	// runs returns the tool runs the server counted so far.
	runs func(t testing.TB) map[string]int64
	// segments maps a tool to the segment of its filter counters.
	segments map[string]string
}

// charged returns, from a host metrics snapshot, how many tools/call of
// each tool the filter counted (admitted or rejected).
func (r *diffReader) charged(snapshot map[string]uint64) map[string]int64 {
	out := make(map[string]int64, len(diffTools))
	for _, tool := range diffTools {
		seg := r.segments[tool]
		out[tool] = int64(snapshot[statName("tool."+seg+".admitted")] + snapshot[statName("tool."+seg+".rejected")])
	}
	return out
}

// diffPluginConfig gives every tool its own bucket, large enough never to
// run dry, lets batches through to be limited ("limit") and inspects the
// path /mcp only, so that the test also compares the filter's path matching
// with the servers' routing.
func diffPluginConfig() string {
	type limit struct {
		MaxTokens    int    `json:"maxTokens"`
		RefillPeriod string `json:"refillPeriod"`
	}
	type tool struct {
		Name   string `json:"name"`
		Shared limit  `json:"shared"`
	}
	cfg := struct {
		Shared limit    `json:"shared"`
		Tools  []tool   `json:"tools"`
		Batch  string   `json:"batch"`
		Paths  []string `json:"paths"`
	}{Shared: limit{1_000_000_000, "1m"}, Batch: "limit", Paths: []string{"/mcp"}}
	for _, name := range diffTools {
		cfg.Tools = append(cfg.Tools, tool{Name: name, Shared: limit{1_000_000_000, "1m"}})
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// toolSegments names each tool's counters the way the filter does
// (filter/metrics.go): every byte outside [A-Za-z0-9_-] becomes '_', and a
// name that collides with an earlier one gets "_<index>". The calibration
// step of the test checks the result against the filter.
func toolSegments(names []string) map[string]string {
	out := make(map[string]string, len(names))
	seen := make(map[string]bool)
	for i, name := range names {
		b := []byte(name)
		for j, c := range b {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				b[j] = '_'
			}
		}
		seg := string(b)
		if seg == "" {
			seg = "_"
		}
		for seen[seg] {
			seg += "_" + strconv.Itoa(i)
		}
		seen[seg] = true
		out[name] = seg
	}
	return out
}

// startDiffHost starts a host running the filter in front of upstream
// (host:port); it closes when the test ends.
func startDiffHost(t testing.TB, name, upstream string) *host.Host {
	t.Helper()
	logs := &lockedBuffer{}
	h, err := host.New(host.Options{
		ConfigPath:       bootstrapPath,
		ListenAddress:    "127.0.0.1:0",
		AdminAddress:     "127.0.0.1:0",
		ClusterAddresses: map[string]string{clusterName: upstream},
		WasmPath:         wasmPath,
		PluginConfig:     []byte(diffPluginConfig()),
		ChunkSizeFor: func(r *http.Request) int {
			n, _ := strconv.Atoi(r.Header.Get(diffChunkHeader))
			return n
		},
		Log: logs,
	})
	if err != nil {
		t.Fatalf("host.New in front of %s: %v", name, err)
	}
	if err := h.Start(); err != nil {
		_ = h.Close()
		t.Fatalf("host.Start in front of %s: %v\nhost log:\n%s", name, err, logs)
	}
	t.Cleanup(func() {
		if traps := h.Traps(); traps != 0 {
			t.Errorf("the module in front of %s trapped %d times", name, traps)
		}
		if err := h.Close(); err != nil {
			t.Errorf("host.Close (%s): %v", name, err)
		}
		if t.Failed() {
			t.Logf("host log (%s):\n%s", name, logs)
		}
	})
	return h
}

// runCounter counts tool runs, safe for concurrent handlers.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int64
}

func (c *runCounter) add(tool string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs[tool]++
}

func (c *runCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.runs))
	for k, v := range c.runs {
		out[k] = v
	}
	return out
}

// startGoReader serves diffTools with the official MCP Go SDK, stateless,
// with JSON responses (so a reply means the tool already ran).
func startGoReader(t testing.TB) (addr string, runs func(testing.TB) map[string]int64) {
	t.Helper()
	counter := &runCounter{runs: make(map[string]int64)}
	server := mcp.NewServer(&mcp.Implementation{Name: "differential-go", Version: "v1.0.0"}, nil)
	for _, name := range diffTools {
		server.AddTool(&mcp.Tool{Name: name, InputSchema: json.RawMessage(`{"type":"object"}`)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				counter.add(name)
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran " + name}}}, nil
			})
	}
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	mux := http.NewServeMux()
	mux.Handle("/mcp", handler)
	upstream := httptest.NewServer(mux)
	t.Cleanup(upstream.Close)
	return upstream.Listener.Addr().String(), func(testing.TB) map[string]int64 { return counter.snapshot() }
}

// helperProcess is a reader process (node or python) the test owns: its
// stdin stays open while the test runs; closing it ends the process.
type helperProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *lockedBuffer
	ports  map[string]int
}

// startHelperProcess starts name with args in dir and reads its first
// stdout line, a JSON object of ports.
func startHelperProcess(t testing.TB, dir, name string, args ...string) *helperProcess {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s %v: %v", name, args, err)
	}
	p := &helperProcess{cmd: cmd, stdin: stdin, stderr: stderr}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(testTimeout):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("%s did not stop when its stdin closed", name)
		}
		if t.Failed() && stderr.String() != "" {
			t.Logf("%s stderr:\n%s", name, stderr)
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &p.ports); err != nil {
			t.Fatalf("%s %v: first stdout line %q is not its ports (%v); stderr:\n%s", name, args, line, err, stderr)
		}
	case <-time.After(testTimeout):
		t.Fatalf("%s %v did not print its ports within %s; stderr:\n%s", name, args, testTimeout, stderr)
	}
	return p
}

// startNodeReaders starts the TypeScript SDK servers (express and web).
func startNodeReaders(t *testing.T, tools string) (express, web string, runs func(testing.TB, string) map[string]int64) {
	t.Helper()
	node := requireNode(t)
	p := startHelperProcess(t, nodeDir, node, nodeServerScript, tools)
	for _, k := range []string{"express", "web", "admin"} {
		if p.ports[k] == 0 {
			t.Fatalf("node %s: no %s port in %v", nodeServerScript, k, p.ports)
		}
	}
	countsURL := fmt.Sprintf("http://127.0.0.1:%d/counts", p.ports["admin"])
	return fmt.Sprintf("127.0.0.1:%d", p.ports["express"]), fmt.Sprintf("127.0.0.1:%d", p.ports["web"]),
		func(t testing.TB, server string) map[string]int64 { return fetchCounts(t, countsURL)[server] }
}

// startPythonReader starts the json.loads reader.
func startPythonReader(t testing.TB, tools string) (addr string, runs func(testing.TB) map[string]int64) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("the differential test needs python3 (not found: %v): apt-get install python3", err)
	}
	p := startHelperProcess(t, ".", "python3", pythonReaderScript, tools)
	if p.ports["python"] == 0 {
		t.Fatalf("%s: no port in %v", pythonReaderScript, p.ports)
	}
	countsURL := fmt.Sprintf("http://127.0.0.1:%d/counts", p.ports["python"])
	return fmt.Sprintf("127.0.0.1:%d", p.ports["python"]),
		func(t testing.TB) map[string]int64 { return fetchCounts(t, countsURL)["python"] }
}

// countsClient reads the readers' run counts.
var countsClient = &http.Client{Timeout: testTimeout}

// fetchCounts GETs a {"server": {"tool": runs}} document.
func fetchCounts(t testing.TB, url string) map[string]map[string]int64 {
	t.Helper()
	resp, err := countsClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var counts map[string]map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return counts
}

// startDiffReaders starts every reader behind its own host.
func startDiffReaders(t *testing.T) []*diffReader {
	t.Helper()
	toolsJSON, err := json.Marshal(diffTools)
	if err != nil {
		t.Fatal(err)
	}
	segments := toolSegments(diffTools)
	goAddr, goRuns := startGoReader(t)
	expressAddr, webAddr, nodeRuns := startNodeReaders(t, string(toolsJSON))
	pyAddr, pyRuns := startPythonReader(t, string(toolsJSON))
	readers := []*diffReader{
		{name: "go-sdk", runs: goRuns},
		{name: "ts-express", runs: func(t testing.TB) map[string]int64 { return nodeRuns(t, "express") }},
		{name: "ts-web", runs: func(t testing.TB) map[string]int64 { return nodeRuns(t, "web") }},
		{name: "python-json.loads", runs: pyRuns},
	}
	addrs := []string{goAddr, expressAddr, webAddr, pyAddr}
	for i, r := range readers {
		r.host = startDiffHost(t, r.name, addrs[i])
		r.base = r.host.URL()
		r.segments = segments
	}
	return readers
}

// headerString writes header lines for a finding, escaped.
func headerString(header [][2]string) string {
	var b strings.Builder
	for _, h := range header {
		fmt.Fprintf(&b, "    %s: %q\n", h[0], h[1])
	}
	return b.String()
}
