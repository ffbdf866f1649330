package host

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/shareddata"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/stats"
)

// Paths of the artifacts built by the Makefile (tests fail, never skip,
// when they are missing).
const (
	shippedWasm   = "../../build/mcp-ratelimit.wasm"
	unpatchedWasm = "../../build/mcp-ratelimit-unpatched.wasm"
	higressWasm   = "../../build/mcp-ratelimit-higress.wasm"
	localYAML     = "../../envoy/local.yaml"
)

func readArtifact(t testing.TB, path, target string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s is missing (run `make %s` first): %v", path, target, err)
	}
	return b
}

var (
	tinyOnce sync.Once
	tinyPath string
	tinyErr  error
)

// tinyModule builds testdata/tinymodule with the stock Go toolchain (a
// plain standard-Go module without the runtime patch) once per test run.
func tinyModule(t testing.TB) string {
	t.Helper()
	tinyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tinymodule")
		if err != nil {
			tinyErr = err
			return
		}
		tinyPath = filepath.Join(dir, "tiny.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", tinyPath, "./testdata/tinymodule")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			tinyErr = err
			tinyPath = string(out)
		}
	})
	if tinyErr != nil {
		t.Fatalf("build testdata/tinymodule: %v\n%s", tinyErr, tinyPath)
	}
	return tinyPath
}

// direct drives one VM of a module without any network, through the same
// filter manager the host uses, with a fake upstream answering 200.
type direct struct {
	rt   *proxywasm.Runtime
	env  *proxywasm.Env
	vm   *proxywasm.VM
	root *proxywasm.RootContext
}

type directOptions struct {
	version string
	plugin  string
	log     io.Writer
	// compileCtx, when set, is the context the module is compiled with
	// (for example one carrying a wazero function listener factory).
	compileCtx context.Context
	// webdis, when set, answers the module's callouts to the cluster
	// "webdis" at once, without any network.
	webdis func(proxywasm.Callout) proxywasm.CalloutResponse
}

func newDirect(t testing.TB, code []byte, o directOptions) *direct {
	t.Helper()
	profile, err := proxywasm.ProfileFor(o.version)
	if err != nil {
		t.Fatal(err)
	}
	compileCtx := o.compileCtx
	if compileCtx == nil {
		compileCtx = context.Background()
	}
	rt, err := proxywasm.NewRuntime(compileCtx, code, profile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	out := o.log
	if out == nil {
		out = io.Discard
	}
	lg := &logger{w: out, level: proxywasm.LogWarn}
	env := &proxywasm.Env{
		SharedData: shareddata.NewStore(), Queues: shareddata.NewQueues(), Stats: stats.NewStore(),
		Log: lg.line, LogLevel: proxywasm.LogWarn,
	}
	if o.webdis != nil {
		env.HasCluster = func(name string) bool { return name == "webdis" }
		env.HTTPCall = func(c proxywasm.Callout, done func(proxywasm.CalloutResponse)) { done(o.webdis(c)) }
	}
	d := &direct{rt: rt, env: env}
	d.vm, err = rt.NewVM(context.Background(), env, proxywasm.VMConfig{VMID: "test", Name: "worker 0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.vm.Close)
	d.root, err = d.vm.StartPlugin(proxywasm.PluginConfig{Name: "test", RootID: "test", Configuration: []byte(o.plugin)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// response is what a stream answered.
type response struct {
	status   int
	headers  *filterchain.HeaderMap
	body     []byte
	upstream bool // the request reached the upstream
	info     *filterchain.StreamInfo
}

// do sends one request through the VM: headers, then the body in chunks of
// chunk bytes (0: one chunk), and waits for the answer.
func (d *direct) do(headers [][2]string, body []byte, chunk int, bufferLimit int) response {
	return d.begin(headers, body, chunk, bufferLimit).wait()
}

// exchange is one request posted to a filter chain of the VM (begin);
// wait runs the chain and returns the answer.
type exchange struct {
	m       *filterchain.Manager
	down    *recordingDownstream
	reached bool
}

// begin posts one request (see do) to a new filter chain of the VM
// without running it: a test may post more events (a reset) first.
func (d *direct) begin(headers [][2]string, body []byte, chunk int, bufferLimit int) *exchange {
	st := d.root.NewStream(proxywasm.StreamProps{RemoteAddr: "127.0.0.1:40000", LocalAddr: "127.0.0.1:10000", Protocol: "HTTP/1.1", Start: time.Now()})
	x := &exchange{down: &recordingDownstream{}}
	x.m = filterchain.New(filterchain.Config{
		Filters:     []filterchain.Filter{st},
		BufferLimit: bufferLimit,
		IdleTimeout: 30 * time.Second,
		NewUpstream: func(m *filterchain.Manager) filterchain.Upstream {
			x.reached = true
			return &fakeUpstream{m: m}
		},
		Downstream: x.down,
	})
	// Everything is posted up front (nil done: no waiting), so the whole
	// exchange runs on the goroutine that calls wait.
	h := filterchain.NewHeaderMap(headers...)
	x.m.RequestHeaders(h, len(body) == 0, nil)
	if chunk <= 0 {
		chunk = len(body)
	}
	for off := 0; off < len(body); off += chunk {
		end := off + chunk
		if end > len(body) {
			end = len(body)
		}
		x.m.RequestData(body[off:end], end == len(body), nil)
	}
	return x
}

// wait runs the exchange's filter chain until the stream ends.
func (x *exchange) wait() response {
	done := make(chan struct{})
	info := x.m.Run(done)
	close(done)
	return response{status: x.down.status, headers: x.down.headers, body: x.down.body, upstream: x.reached, info: info}
}

// heldCall is a callout a test holds (its Env.HTTPCall returned without
// answering) and answers later with done.
type heldCall struct {
	callout proxywasm.Callout
	done    func(proxywasm.CalloutResponse)
}

type recordingDownstream struct {
	status  int
	headers *filterchain.HeaderMap
	body    []byte
}

func (r *recordingDownstream) WriteHeaders(h *filterchain.HeaderMap, end bool) error {
	r.headers = h
	if s, ok := h.Get(":status"); ok {
		r.status, _ = strconv.Atoi(s)
	}
	return nil
}

func (r *recordingDownstream) WriteData(b []byte, end bool) error {
	r.body = append(r.body, b...)
	return nil
}

func (r *recordingDownstream) WriteTrailers(*filterchain.HeaderMap) error { return nil }

func (r *recordingDownstream) Reset() { r.status = -1 }

// fakeUpstream answers every request with 200 "ok" once it is complete.
type fakeUpstream struct {
	m    *filterchain.Manager
	once sync.Once
}

func (u *fakeUpstream) respond() {
	u.once.Do(func() {
		u.m.ResponseHeaders(filterchain.NewHeaderMap([2]string{":status", "200"}, [2]string{"content-length", "2"}), false, nil)
		u.m.ResponseData([]byte("ok"), true, nil)
	})
}

func (u *fakeUpstream) Headers(h *filterchain.HeaderMap, end bool) {
	if end {
		u.respond()
	}
}

func (u *fakeUpstream) Data(b []byte, end bool) {
	if end {
		u.respond()
	}
}

func (u *fakeUpstream) Trailers(*filterchain.HeaderMap) { u.respond() }

func (u *fakeUpstream) Reset() {}

func mcpHeaders(extra ...[2]string) [][2]string {
	h := [][2]string{
		{":method", "POST"}, {":path", "/mcp"}, {":authority", "127.0.0.1:10000"}, {":scheme", "http"},
		{"content-type", "application/json"}, {"accept", "application/json, text/event-stream"},
	}
	return append(h, extra...)
}
