package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// Scenarios shared by two engines: e2e/testdata/scenarios.json (format in
// e2e/testdata/scenarios.md) runs against the compiled module on wazero (the
// local host's proxy-wasm VMs) and on V8, the engine Envoy and Istio run
// Wasm with (e2e/v8, a proxy-wasm host on Node.js). Each engine must meet
// every expectation, and the two must agree on every observable result:
// replies, counters, the module's log lines.

const (
	scenariosPath = "testdata/scenarios.json"
	// runtimeScenariosPath runs testdata/pollmodule, a stock standard-Go
	// module, under Envoy 1.33's and 1.39's WASI answers.
	runtimeScenariosPath = "testdata/scenarios-runtime.json"
	v8RunnerPath         = "v8/run.mjs"
	// v8HostTestsPath are the V8 host's own unit tests (node:test).
	v8HostTestsPath = "v8/host.test.mjs"
	// v8BenchPath compares modules' time per request on V8.
	v8BenchPath = "v8/bench.mjs"
)

// scenarioFile is e2e/testdata/scenarios.json.
type scenarioFile struct {
	Defaults struct {
		RootID       string `json:"rootId"`
		PluginName   string `json:"pluginName"`
		VMID         string `json:"vmId"`
		ClockStart   string `json:"clockStart"`
		EnvoyVersion string `json:"envoyVersion"`
		Workers      int    `json:"workers"`
	} `json:"defaults"`
	Upstream  upstreamReply `json:"upstream"`
	Scenarios []scenario    `json:"scenarios"`
}

// upstreamReply is what the upstream answers every request that reaches it.
type upstreamReply struct {
	Status  int         `json:"status"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"`
}

type scenario struct {
	Name         string            `json:"name"`
	Config       json.RawMessage   `json:"config"`
	ConfigText   *string           `json:"configText"`
	Workers      int               `json:"workers"`
	EnvoyVersion string            `json:"envoyVersion"`
	ClockStart   string            `json:"clockStart"`
	Start        *startExpectation `json:"start"`
	// Failure, when set, requires the VM to fail (a trap), with log lines
	// holding every string of LogContains; without it no VM may fail.
	Failure  *failureExpectation `json:"failure"`
	Requests []scenarioRequest   `json:"requests"`
	Counters map[string]uint64   `json:"counters"`
	// MaxMemoryBytes bounds every worker's linear memory at the end.
	MaxMemoryBytes uint64 `json:"maxMemoryBytes"`
}

// startExpectation: the plugin must be refused, with a log line holding
// every string of LogContains.
type startExpectation struct {
	Refused     bool     `json:"refused"`
	LogContains []string `json:"logContains"`
}

type failureExpectation struct {
	LogContains []string `json:"logContains"`
}

type scenarioRequest struct {
	Method          string            `json:"method"`
	Path            string            `json:"path"`
	Headers         [][2]string       `json:"headers"`
	Body            *string           `json:"body"`
	Call            *string           `json:"call"`
	ID              json.RawMessage   `json:"id"`
	BodyTemplate    *string           `json:"bodyTemplate"`
	BodySize        int               `json:"bodySize"`
	NoContentLength bool              `json:"noContentLength"`
	Chunk           int               `json:"chunk"`
	Trailers        [][2]string       `json:"trailers"`
	Worker          int               `json:"worker"`
	AdvanceMs       int64             `json:"advanceMs"`
	Repeat          int               `json:"repeat"`
	SourceAddress   string            `json:"sourceAddress"`
	Properties      map[string]string `json:"properties"`
	Expect          stepExpectation   `json:"expect"`
}

// stepExpectation is what the client must see. Status 0 is not checked;
// Headers must be present with these values; JSON is compared structurally
// with the body, Body exactly.
type stepExpectation struct {
	Upstream      *bool             `json:"upstream"`
	Status        int               `json:"status"`
	Headers       map[string]string `json:"headers"`
	AbsentHeaders []string          `json:"absentHeaders"`
	JSON          json.RawMessage   `json:"json"`
	Body          *string           `json:"body"`
}

// The results, as both engines report them (run.mjs prints the same shape).
type engineOutput struct {
	Engine    string           `json:"engine"`
	Scenarios []scenarioResult `json:"scenarios"`
}

type scenarioResult struct {
	Name        string            `json:"name"`
	Started     bool              `json:"started"`
	StartError  string            `json:"startError"`
	Steps       []stepResult      `json:"steps"`
	Counters    map[string]uint64 `json:"counters"`
	Logs        []string          `json:"logs"`
	MemoryBytes []uint64          `json:"memoryBytes"`
	Trap        string            `json:"trap"`
}

type stepResult struct {
	Upstream          bool        `json:"upstream"`
	UpstreamBodyBytes int         `json:"upstreamBodyBytes"`
	Status            int         `json:"status"`
	Headers           [][2]string `json:"headers"`
	Body              string      `json:"body"`
	Details           string      `json:"details"`
}

func (sc *scenario) workers(f *scenarioFile) int {
	if sc.Workers > 0 {
		return sc.Workers
	}
	return max(f.Defaults.Workers, 1)
}

func (sc *scenario) clockStart(f *scenarioFile) string {
	if sc.ClockStart != "" {
		return sc.ClockStart
	}
	return f.Defaults.ClockStart
}

func (sc *scenario) envoyVersion(f *scenarioFile) string {
	if sc.EnvoyVersion != "" {
		return sc.EnvoyVersion
	}
	return f.Defaults.EnvoyVersion
}

// configuration is the plugin configuration bytes: configText as it is,
// else config re-encoded compactly (as run.mjs's JSON.stringify does).
func (sc *scenario) configuration() []byte {
	if sc.ConfigText != nil {
		return []byte(*sc.ConfigText)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, sc.Config); err != nil {
		return sc.Config
	}
	return buf.Bytes()
}

// body builds the request body as run.mjs's requestBody does.
func (r *scenarioRequest) body() []byte {
	switch {
	case r.Call != nil:
		id := []byte("1")
		if len(r.ID) > 0 {
			id = compactJSON(r.ID)
		}
		name, _ := json.Marshal(*r.Call)
		return []byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"method":"tools/call","params":{"name":` + string(name) + `,"arguments":{}}}`)
	case r.BodyTemplate != nil:
		before, after, found := strings.Cut(*r.BodyTemplate, "{{pad}}")
		if !found {
			panic("bodyTemplate without {{pad}}")
		}
		pad := r.BodySize - len(before) - len(after)
		return []byte(before + strings.Repeat("a", pad) + after)
	case r.Body != nil:
		return []byte(*r.Body)
	}
	return nil
}

func compactJSON(raw []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// headers builds the request headers as run.mjs's requestHeaders does.
func (r *scenarioRequest) headers(bodyLength int) [][2]string {
	method, path := r.Method, r.Path
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/mcp"
	}
	h := [][2]string{
		{":method", method}, {":path", path}, {":authority", "mcp.example"}, {":scheme", "http"},
		{"content-type", "application/json"}, {"accept", "application/json, text/event-stream"},
	}
	if bodyLength > 0 && !r.NoContentLength {
		h = append(h, [2]string{"content-length", strconv.Itoa(bodyLength)})
	}
	return append(h, r.Headers...)
}

func loadScenarios(t *testing.T, path string) *scenarioFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the scenarios: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f scenarioFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	names := map[string]bool{}
	for _, sc := range f.Scenarios {
		if sc.Name == "" || names[sc.Name] {
			t.Fatalf("%s: scenario names must be present and unique: %q", path, sc.Name)
		}
		names[sc.Name] = true
	}
	return &f
}

// nodePath finds Node.js; the V8 tests fail without it.
func nodePath(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (Node.js 20 or later, which embeds V8) is missing: install it with `apt-get install -y nodejs`: %v", err)
	}
	return node
}

// TestV8Host runs the unit tests of the V8 host (e2e/v8/host.test.mjs).
func TestV8Host(t *testing.T) {
	out, err := exec.Command(nodePath(t), "--test", v8HostTestsPath).CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", v8HostTestsPath, err, out)
	}
	if !bytes.Contains(out, []byte("# fail 0")) {
		t.Fatalf("node --test %s reported failures:\n%s", v8HostTestsPath, out)
	}
}

// runV8 runs every scenario of a file on V8 through e2e/v8/run.mjs.
func runV8(t *testing.T, module, scenarios string) engineOutput {
	t.Helper()
	cmd := exec.Command(nodePath(t), v8RunnerPath, module, scenarios)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s", v8RunnerPath, err, stderr.String())
	}
	var out engineOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node %s printed no JSON result: %v\nstdout:\n%.2000s\nstderr:\n%s", v8RunnerPath, err, stdout.String(), stderr.String())
	}
	return out
}

// runWazero runs every scenario on wazero; one compiled runtime per Envoy
// version.
func runWazero(t *testing.T, module string, f *scenarioFile) engineOutput {
	t.Helper()
	code, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	runtimes := map[string]*proxywasm.Runtime{}
	defer func() {
		for _, rt := range runtimes {
			_ = rt.Close(context.Background())
		}
	}()
	out := engineOutput{Engine: "wazero"}
	for i := range f.Scenarios {
		sc := &f.Scenarios[i]
		version := sc.envoyVersion(f)
		rt := runtimes[version]
		if rt == nil {
			profile, err := proxywasm.ProfileFor(version)
			if err != nil {
				t.Fatalf("scenario %q: %v", sc.Name, err)
			}
			if rt, err = proxywasm.NewRuntime(context.Background(), code, profile); err != nil {
				t.Fatalf("scenario %q: %v", sc.Name, err)
			}
			runtimes[version] = rt
		}
		out.Scenarios = append(out.Scenarios, runScenarioWazero(t, rt, f, sc))
	}
	return out
}

// TestScenarios runs e2e/testdata/scenarios.json on wazero and on V8 and
// checks each engine against the expectations and the engines against each
// other.
func TestScenarios(t *testing.T) {
	compareEngines(t, wasmPath, scenariosPath)
}

// TestV8Bench runs e2e/v8/bench.mjs briefly on the shipped module twice
// and expects a time per request for each module and workload: the
// benchmark docs/benchmarks.md cites keeps working.
func TestV8Bench(t *testing.T) {
	cmd := exec.Command(nodePath(t), v8BenchPath, "-n", "5", "-rounds", "2", "-warmup", "5", wasmPath, wasmPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s%s", v8BenchPath, err, out, stderr.String())
	}
	line := regexp.MustCompile(`^(call-admitted|tools-list): \S+ ([0-9.]+) µs/req  \S+ ([0-9.]+) µs/req$`)
	var workloads []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unexpected line %q in:\n%s", l, out)
		}
		for _, v := range m[2:] {
			if f, err := strconv.ParseFloat(v, 64); err != nil || f <= 0 {
				t.Errorf("%s: time %q is not positive", m[1], v)
			}
		}
		workloads = append(workloads, m[1])
	}
	if strings.Join(workloads, ",") != "call-admitted,tools-list" {
		t.Errorf("workloads %v, want call-admitted and tools-list", workloads)
	}
}

// TestRuntimeScenarios runs testdata/pollmodule, built with the stock Go
// toolchain, on wazero and on V8: it dies at a garbage collection where
// poll_oneoff answers ENOSYS (Envoy 1.33 to 1.38) and lives where it
// answers zero events (Envoy 1.39), at the same request in both engines.
func TestRuntimeScenarios(t *testing.T) {
	module := filepath.Join(t.TempDir(), "pollmodule.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", module, "./testdata/pollmodule")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/pollmodule: %v\n%s", err, out)
	}
	compareEngines(t, module, runtimeScenariosPath)
}

// compareEngines runs a scenario file against a module on V8 and on
// wazero, checks each engine against the expectations and the engines
// against each other, one subtest per scenario.
func compareEngines(t *testing.T, module, scenarios string) {
	t.Helper()
	f := loadScenarios(t, scenarios)
	v8 := runV8(t, module, scenarios)
	wz := runWazero(t, module, f)
	t.Logf("%d scenarios; engines: %s and %s", len(f.Scenarios), wz.Engine, v8.Engine)
	if len(v8.Scenarios) != len(f.Scenarios) {
		t.Fatalf("V8 ran %d scenarios, the file has %d", len(v8.Scenarios), len(f.Scenarios))
	}
	for i := range f.Scenarios {
		sc := &f.Scenarios[i]
		t.Run(sc.Name, func(t *testing.T) {
			engines := []struct {
				name string
				res  scenarioResult
			}{{"wazero", wz.Scenarios[i]}, {"V8", v8.Scenarios[i]}}
			for _, e := range engines {
				if e.res.Name != sc.Name {
					t.Fatalf("%s: result %d is scenario %q, want %q", e.name, i, e.res.Name, sc.Name)
				}
				checkScenario(t, e.name, sc, e.res)
			}
			if diff := engineDiff(wz.Scenarios[i], v8.Scenarios[i]); diff != "" {
				t.Errorf("wazero and V8 differ:\n%s", diff)
			}
			t.Logf("memory per worker: wazero %v, V8 %v", wz.Scenarios[i].MemoryBytes, v8.Scenarios[i].MemoryBytes)
		})
	}
}

// checkScenario checks one engine's result against the scenario's
// expectations.
func checkScenario(t *testing.T, engine string, sc *scenario, res scenarioResult) {
	t.Helper()
	switch {
	case sc.Failure == nil && res.Trap != "":
		t.Errorf("%s: the module trapped: %s", engine, res.Trap)
	case sc.Failure != nil && res.Trap == "":
		t.Errorf("%s: the module did not fail", engine)
	case sc.Failure != nil:
		for _, want := range sc.Failure.LogContains {
			if !logsContain(res.Logs, want) {
				t.Errorf("%s: the VM failed (%s), but no log line contains %q", engine, res.Trap, want)
			}
		}
	}
	wantRefused := sc.Start != nil && sc.Start.Refused
	if res.Started == wantRefused {
		t.Fatalf("%s: plugin started = %t, want %t (start error %q, logs %q)", engine, res.Started, !wantRefused, res.StartError, res.Logs)
	}
	if sc.Start != nil {
		for _, want := range sc.Start.LogContains {
			if !logsContain(res.Logs, want) {
				t.Errorf("%s: no log line contains %q; logs:\n\t%s", engine, want, strings.Join(res.Logs, "\n\t"))
			}
		}
	}
	steps := 0
	for ri := range sc.Requests {
		r := &sc.Requests[ri]
		for rep := range max(r.Repeat, 1) {
			if steps >= len(res.Steps) {
				if res.Started {
					t.Errorf("%s: request %d: no result", engine, ri)
				}
				return
			}
			label := fmt.Sprintf("%s: request %d", engine, ri)
			if r.Repeat > 1 {
				label += fmt.Sprintf(" (repetition %d)", rep)
			}
			checkStep(t, label, r, res.Steps[steps])
			steps++
		}
	}
	if steps != len(res.Steps) {
		t.Errorf("%s: %d results for %d requests", engine, len(res.Steps), steps)
	}
	for name, want := range sc.Counters {
		got, ok := res.Counters[name]
		if !ok {
			t.Errorf("%s: counter %s is not defined (defined: %v)", engine, name, res.Counters)
			continue
		}
		if got != want {
			t.Errorf("%s: counter %s = %d, want %d", engine, name, got, want)
		}
	}
	if sc.MaxMemoryBytes > 0 {
		for w, m := range res.MemoryBytes {
			if m > sc.MaxMemoryBytes {
				t.Errorf("%s: worker %d's linear memory is %d bytes (%.2f MiB), over %d", engine, w, m, float64(m)/(1<<20), sc.MaxMemoryBytes)
			}
		}
	}
}

func logsContain(logs []string, want string) bool {
	for _, l := range logs {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// checkStep checks one answer.
func checkStep(t *testing.T, label string, r *scenarioRequest, got stepResult) {
	t.Helper()
	want := r.Expect
	if want.Upstream != nil && got.Upstream != *want.Upstream {
		t.Errorf("%s: reached the upstream = %t, want %t (answer %d %q)", label, got.Upstream, *want.Upstream, got.Status, got.Body)
	}
	if got.Upstream && got.UpstreamBodyBytes != len(r.body()) {
		t.Errorf("%s: the upstream received %d body bytes, the request had %d", label, got.UpstreamBodyBytes, len(r.body()))
	}
	if want.Status != 0 && got.Status != want.Status {
		t.Errorf("%s: status %d, want %d (body %q)", label, got.Status, want.Status, got.Body)
	}
	for name, value := range want.Headers {
		v, ok := headerValue(got.Headers, name)
		if !ok {
			t.Errorf("%s: no %s header in %v", label, name, got.Headers)
		} else if v != value {
			t.Errorf("%s: %s: %q, want %q", label, name, v, value)
		}
	}
	for _, name := range want.AbsentHeaders {
		if v, ok := headerValue(got.Headers, name); ok {
			t.Errorf("%s: unexpected %s: %q", label, name, v)
		}
	}
	if want.Body != nil && got.Body != *want.Body {
		t.Errorf("%s: body %q, want %q", label, got.Body, *want.Body)
	}
	if len(want.JSON) > 0 {
		var g, w any
		if err := json.Unmarshal([]byte(got.Body), &g); err != nil {
			t.Errorf("%s: body %q is not JSON: %v", label, got.Body, err)
		} else if err := json.Unmarshal(want.JSON, &w); err != nil {
			t.Fatalf("%s: the expected json does not parse: %v", label, err)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: body %s, want %s", label, got.Body, compactJSON(want.JSON))
		}
	}
}

func headerValue(h [][2]string, name string) (string, bool) {
	for _, p := range h {
		if p[0] == name {
			return p[1], true
		}
	}
	return "", false
}

// engineDiff lists every difference between two engines' results of one
// scenario, line by line; memory sizes and the wording of start errors and
// traps are the engines' own and not compared.
func engineDiff(a, b scenarioResult) string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if a.Started != b.Started {
		add("started: wazero %t, V8 %t", a.Started, b.Started)
	}
	if a.Trap != b.Trap && (a.Trap == "" || b.Trap == "") {
		add("trap: wazero %q, V8 %q", a.Trap, b.Trap)
	}
	if len(a.Steps) != len(b.Steps) {
		add("steps: wazero %d, V8 %d", len(a.Steps), len(b.Steps))
	}
	for i := range min(len(a.Steps), len(b.Steps)) {
		if !reflect.DeepEqual(a.Steps[i], b.Steps[i]) {
			wa, _ := json.Marshal(a.Steps[i])
			wb, _ := json.Marshal(b.Steps[i])
			add("step %d:\n\twazero %s\n\tV8     %s", i, wa, wb)
		}
	}
	if !reflect.DeepEqual(a.Counters, b.Counters) {
		add("counters:\n\twazero %v\n\tV8     %v", a.Counters, b.Counters)
	}
	if la, lb := maskHex(a.Logs), maskHex(b.Logs); !reflect.DeepEqual(la, lb) {
		add("logs (wazero %d lines, V8 %d):%s", len(la), len(lb), firstDifference(la, lb))
	}
	if len(a.MemoryBytes) != len(b.MemoryBytes) {
		add("workers: wazero %d, V8 %d", len(a.MemoryBytes), len(b.MemoryBytes))
	}
	return strings.Join(diffs, "\n")
}

// hexNumber is a hexadecimal number in a log line.
var hexNumber = regexp.MustCompile(`0x[0-9a-f]+`)

// maskHex hides hexadecimal numbers: a Go runtime traceback prints function
// arguments, among them readings of the monotonic clock, which each host
// takes from its own process.
func maskHex(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = hexNumber.ReplaceAllString(l, "0x_")
	}
	return out
}

// firstDifference shows where two lists of lines part.
func firstDifference(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var la, lb string
		if i < len(a) {
			la = a[i]
		}
		if i < len(b) {
			lb = b[i]
		}
		if la != lb || i >= len(a) || i >= len(b) {
			return fmt.Sprintf("\n\tline %d:\n\twazero %q\n\tV8     %q", i, la, lb)
		}
	}
	return ""
}
