package e2e

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The differential test: the same request goes, through the filter (the
// compiled module in the local host), to several real MCP servers whose tools
// count their runs: the official Go SDK, the official TypeScript SDK's
// Express app and its web-standard transport, and a model of the Python
// SDK's reader (json.loads). For every request and every server, each tool
// the server ran must have been counted by the filter against that tool's
// bucket (every tool has its own bucket). A request the filter answered
// itself never reaches the server, so it can never be a finding.
//
// The requests: the hand-written corpus of differential_corpus_test.go,
// then DIFF_COUNT (default 500) mutations of it from the PRNG seeded with
// DIFF_SEED (default 1). `make test-differential DIFF_COUNT=100000
// DIFF_SEED=7` runs longer; a finding prints the seed and the request.

const (
	defaultDiffSeed  = 1
	defaultDiffCount = 500
	// maxPrintedFindings bounds the findings printed in full (every
	// finding gets a line).
	maxPrintedFindings = 25
	// progressEvery is how often a long run logs its progress (go test -v).
	progressEvery = 10000
)

// envUint reads a non-negative integer environment variable.
func envUint(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// readerView is what one reader (its filter and its server) did with a request.
type readerView struct {
	status  int
	reply   []byte
	sendErr error
	runs    map[string]int64 // tool runs at the server during the request
	charged map[string]int64 // tools/call the filter counted per tool
	other   map[string]int64 // other filter counters that moved
}

// diffOutcome is the result of one request at every reader.
type diffOutcome struct {
	req   diffRequest
	views []readerView
}

// bypasses lists, per reader, the tools run more often than charged.
func (o diffOutcome) bypasses(readers []*diffReader) []string {
	var out []string
	for i, v := range o.views {
		for _, tool := range diffTools {
			if v.runs[tool] > v.charged[tool] {
				out = append(out, fmt.Sprintf("%s ran %q %d times, the filter charged it %d", readers[i].name, tool, v.runs[tool], v.charged[tool]))
			}
		}
	}
	return out
}

// String writes the request (headers and body, escaped) and every view.
func (o diffOutcome) describe(readers []*diffReader) string {
	var b strings.Builder
	method, target := o.req.method, o.req.target
	if method == "" {
		method = http.MethodPost
	}
	if target == "" {
		target = "/mcp"
	}
	fmt.Fprintf(&b, "request %s\n  %s %s\n%s  body (%d bytes): %q\n", o.req.label, method, target, headerString(o.req.header), len(o.req.body), o.req.body)
	if o.req.chunk > 0 {
		fmt.Fprintf(&b, "  delivered to the filter in chunks of %d bytes\n", o.req.chunk)
	}
	for i, v := range o.views {
		fmt.Fprintf(&b, "  %s: HTTP %d, filter charged %v, other filter counters %v, server ran %v, reply %q",
			readers[i].name, v.status, nonZero(v.charged), v.other, nonZero(v.runs), truncate(v.reply, 200))
		if v.sendErr != nil {
			fmt.Fprintf(&b, ", error %v", v.sendErr)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func nonZero(m map[string]int64) map[string]int64 {
	out := make(map[string]int64)
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// diffClient sends the test's requests; one per test run.
var diffClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8, ResponseHeaderTimeout: testTimeout}, Timeout: testTimeout}

// send posts req to one reader and returns what the filter and the server
// did with it, from the filter's counters and the server's run counts
// read before and after.
func send(t testing.TB, r *diffReader, req diffRequest) readerView {
	t.Helper()
	metrics0, runs0 := r.host.Metrics(), r.runs(t)
	var v readerView
	method, target := req.method, req.target
	if method == "" {
		method = http.MethodPost
	}
	if target == "" {
		target = "/mcp"
	}
	httpReq, err := http.NewRequest(method, r.base+target, bytes.NewReader(req.body))
	if err != nil {
		t.Fatalf("request %s: %v", req.label, err)
	}
	for _, h := range req.header {
		httpReq.Header.Add(h[0], h[1])
	}
	if req.chunk > 0 {
		httpReq.Header.Set(diffChunkHeader, strconv.Itoa(req.chunk))
	}
	resp, err := diffClient.Do(httpReq)
	if err != nil {
		v.sendErr = err
	} else {
		v.status = resp.StatusCode
		v.reply, v.sendErr = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	metrics1, runs1 := r.host.Metrics(), r.runs(t)
	v.runs = make(map[string]int64)
	for _, tool := range diffTools {
		v.runs[tool] = runs1[tool] - runs0[tool]
	}
	c0, c1 := r.charged(metrics0), r.charged(metrics1)
	v.charged = make(map[string]int64)
	for _, tool := range diffTools {
		v.charged[tool] = c1[tool] - c0[tool]
	}
	v.other = make(map[string]int64)
	prefix := statName("")
	for name, n := range metrics1 {
		if d := int64(n) - int64(metrics0[name]); d != 0 && !strings.Contains(name, ".tool.") {
			v.other[strings.TrimPrefix(name, prefix)] = d
		}
	}
	return v
}

// sendAll sends req to every reader at once (each has its own host and
// server, so their counts do not mix).
func sendAll(t testing.TB, readers []*diffReader, req diffRequest) diffOutcome {
	t.Helper()
	o := diffOutcome{req: req, views: make([]readerView, len(readers))}
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Go(func() { o.views[i] = send(t, r, req) })
	}
	wg.Wait()
	return o
}

// TestDifferential sends the corpus and its mutations to every reader and
// fails on any tool a server ran that the filter did not charge.
func TestDifferential(t *testing.T) {
	seed := envUint(t, "DIFF_SEED", defaultDiffSeed)
	count := int(envUint(t, "DIFF_COUNT", defaultDiffCount))
	readers := startDiffReaders(t)

	// Calibration: each tool, plainly, runs once at every server and is
	// charged once to its own bucket; otherwise the harness is wrong.
	for _, tool := range diffTools {
		o := sendAll(t, readers, post("calibration "+tool, callBody(tool)))
		for i, v := range o.views {
			want := map[string]int64{tool: 1}
			if !maps.Equal(nonZero(v.runs), want) || !maps.Equal(nonZero(v.charged), want) {
				t.Fatalf("calibration of %s: %s ran %v and the filter charged %v, want %v for both\n%s",
					readers[i].name, tool, nonZero(v.runs), nonZero(v.charged), want, o.describe(readers))
			}
		}
	}

	corpus := diffCorpus()
	mutator := newDiffMutator(seed, corpus)
	total := len(corpus) + count
	var findings []diffOutcome
	totals := make([]struct{ runs, charged map[string]int64 }, len(readers))
	for i := range totals {
		totals[i].runs, totals[i].charged = make(map[string]int64), make(map[string]int64)
	}
	ran := make([]int, len(readers)) // requests after which the server ran a tool
	for i := range total {
		var req diffRequest
		if i < len(corpus) {
			req = corpus[i]
		} else {
			req = mutator.next(i - len(corpus))
		}
		o := sendAll(t, readers, req)
		for j, v := range o.views {
			for tool, n := range v.runs {
				totals[j].runs[tool] += n
				totals[j].charged[tool] += v.charged[tool]
			}
			if len(nonZero(v.runs)) > 0 {
				ran[j]++
			}
		}
		if len(o.bypasses(readers)) > 0 {
			findings = append(findings, o)
		}
		if done := i + 1; done%progressEvery == 0 {
			t.Logf("differential: %d of %d requests sent, %d findings so far", done, total, len(findings))
		}
	}
	// Whole-run totals catch a run that landed after its request's count
	// was read.
	for j, r := range readers {
		for _, tool := range diffTools {
			if totals[j].runs[tool] > totals[j].charged[tool] {
				t.Errorf("%s ran %q %d times in all, the filter charged it %d times", r.name, tool, totals[j].runs[tool], totals[j].charged[tool])
			}
		}
	}
	summary := make([]string, len(readers))
	for j, r := range readers {
		summary[j] = fmt.Sprintf("%s ran tools after %d", r.name, ran[j])
	}
	t.Logf("differential: %d requests (%d corpus + %d mutations, DIFF_SEED=%d), %s",
		total, len(corpus), count, seed, strings.Join(summary, ", "))
	if len(findings) == 0 {
		return
	}
	var b strings.Builder
	for i, f := range findings {
		fmt.Fprintf(&b, "finding %d: %s: %s\n", i+1, f.req.label, strings.Join(f.bypasses(readers), "; "))
	}
	for i, f := range findings[:min(len(findings), maxPrintedFindings)] {
		fmt.Fprintf(&b, "\nfinding %d in full:\n%s", i+1, f.describe(readers))
	}
	t.Errorf("%d of %d requests (DIFF_SEED=%d, DIFF_COUNT=%d) ran a tool the filter did not charge:\n%s",
		len(findings), total, seed, count, b.String())
}
