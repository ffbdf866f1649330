package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/shareddata"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/stats"
)

// runScenarioWazero runs one scenario on the local host's proxy-wasm VMs
// (wazero), one VM per worker sharing one shared-data store and one stats
// store, each request through the host's filter manager with an upstream
// that answers file.Upstream. The clock is the scenario's: it starts at
// clockStart and moves only by advanceMs.
func runScenarioWazero(t *testing.T, rt *proxywasm.Runtime, file *scenarioFile, sc *scenario) scenarioResult {
	t.Helper()
	clock := newScenarioClock(t, sc.clockStart(file))
	var logMu sync.Mutex
	var logs []string
	env := &proxywasm.Env{
		SharedData: shareddata.NewStore(), Queues: shareddata.NewQueues(), Stats: stats.NewStore(),
		LogLevel: proxywasm.LogInfo,
		Log: func(level proxywasm.LogLevel, line string) {
			if !strings.HasPrefix(line, "[wasm] wasm log") {
				return
			}
			logMu.Lock()
			defer logMu.Unlock()
			logs = append(logs, levelName(level)+" "+line)
		},
		Now: clock.now,
	}
	res := scenarioResult{Name: sc.Name, Started: true, Steps: []stepResult{}}
	var vms []*proxywasm.VM
	var roots []*proxywasm.RootContext
	defer func() {
		for _, vm := range vms {
			vm.Close()
		}
	}()
	for w := range sc.workers(file) {
		vm, err := rt.NewVM(context.Background(), env, proxywasm.VMConfig{VMID: file.Defaults.VMID, Name: fmt.Sprintf("worker %d", w)})
		if err != nil {
			t.Fatalf("wazero: scenario %q: worker %d: %v", sc.Name, w, err)
		}
		vms = append(vms, vm)
		root, err := vm.StartPlugin(proxywasm.PluginConfig{Name: file.Defaults.PluginName, RootID: file.Defaults.RootID, Configuration: sc.configuration()})
		if err != nil {
			res.Started, res.StartError = false, err.Error()
			break
		}
		roots = append(roots, root)
	}
	if res.Started {
		for _, r := range sc.Requests {
			for range max(r.Repeat, 1) {
				clock.advance(time.Duration(r.AdvanceMs) * time.Millisecond)
				res.Steps = append(res.Steps, exchangeWazero(roots[r.Worker], file.Upstream, &r))
			}
		}
	}
	res.Counters = map[string]uint64{}
	for name, v := range env.Stats.Snapshot() {
		res.Counters[name] = v
	}
	logMu.Lock()
	res.Logs = append([]string{}, logs...)
	logMu.Unlock()
	for _, vm := range vms {
		res.MemoryBytes = append(res.MemoryBytes, vm.MemoryBytes())
		if err := vm.Failed(); err != nil && res.Trap == "" {
			res.Trap = err.Error()
		}
	}
	return res
}

// levelName is the name run.mjs gives a log level.
func levelName(l proxywasm.LogLevel) string {
	if l == proxywasm.LogWarn {
		return "warn"
	}
	return l.String()
}

// scenarioClock is a wall clock that moves only when told to.
type scenarioClock struct {
	mu sync.Mutex
	t  time.Time
}

func newScenarioClock(t *testing.T, start string) *scenarioClock {
	t.Helper()
	at, err := time.Parse(time.RFC3339, start)
	if err != nil {
		t.Fatalf("clockStart %q: %v", start, err)
	}
	return &scenarioClock{t: at}
}

func (c *scenarioClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *scenarioClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// exchangeWazero sends one request through a worker's filter and records
// the answer the client gets.
func exchangeWazero(root *proxywasm.RootContext, reply upstreamReply, r *scenarioRequest) stepResult {
	body := r.body()
	remote := r.SourceAddress
	if remote == "" {
		remote = "127.0.0.1:40000"
	}
	props := proxywasm.StreamProps{RemoteAddr: remote, LocalAddr: "127.0.0.1:10000", Protocol: "HTTP/1.1"}
	if len(r.Properties) > 0 {
		props.Extra = map[string][]byte{}
		for k, v := range r.Properties {
			props.Extra[k] = []byte(v)
		}
	}
	st := root.NewStream(props)
	down := &scenarioDownstream{}
	up := &scenarioUpstream{reply: reply, bodyBytes: -1}
	m := filterchain.New(filterchain.Config{
		Filters:     []filterchain.Filter{st},
		BufferLimit: 1 << 20,
		NewUpstream: func(m *filterchain.Manager) filterchain.Upstream {
			up.m = m
			up.bodyBytes = 0
			return up
		},
		Downstream: down,
	})
	var trailers *filterchain.HeaderMap
	if r.Trailers != nil {
		trailers = filterchain.NewHeaderMap(r.Trailers...)
	}
	m.RequestHeaders(filterchain.NewHeaderMap(r.headers(len(body))...), len(body) == 0 && trailers == nil, nil)
	chunk := r.Chunk
	if chunk <= 0 {
		chunk = len(body)
	}
	for off := 0; off < len(body); off += chunk {
		end := min(off+chunk, len(body))
		m.RequestData(body[off:end], end == len(body) && trailers == nil, nil)
	}
	if trailers != nil {
		m.RequestTrailers(trailers, nil)
	}
	done := make(chan struct{})
	info := m.Run(done)
	close(done)
	res := stepResult{
		Upstream:          up.bodyBytes >= 0,
		UpstreamBodyBytes: up.bodyBytes,
		Status:            down.status,
		Headers:           [][2]string{},
		Body:              string(down.body),
		Details:           info.Details,
	}
	if down.headers != nil {
		res.Headers = append(res.Headers, down.headers.Pairs()...)
	}
	return res
}

// scenarioDownstream records the response.
type scenarioDownstream struct {
	status  int
	headers *filterchain.HeaderMap
	body    []byte
}

func (d *scenarioDownstream) WriteHeaders(h *filterchain.HeaderMap, end bool) error {
	d.headers = h
	d.status, _ = strconv.Atoi(func() string { s, _ := h.Get(":status"); return s }())
	return nil
}

func (d *scenarioDownstream) WriteData(b []byte, end bool) error {
	d.body = append(d.body, b...)
	return nil
}

func (d *scenarioDownstream) WriteTrailers(*filterchain.HeaderMap) error { return nil }

func (d *scenarioDownstream) Reset() { d.status = -1 }

// scenarioUpstream counts the request body it receives and answers the
// scenario file's reply once the request is complete.
type scenarioUpstream struct {
	m         *filterchain.Manager
	reply     upstreamReply
	bodyBytes int
	once      sync.Once
}

func (u *scenarioUpstream) respond() {
	u.once.Do(func() {
		h := filterchain.NewHeaderMap([2]string{":status", strconv.Itoa(u.reply.Status)})
		for _, p := range u.reply.Headers {
			h.Add(p[0], p[1])
		}
		h.Add("content-length", strconv.Itoa(len(u.reply.Body)))
		u.m.ResponseHeaders(h, len(u.reply.Body) == 0, nil)
		if len(u.reply.Body) > 0 {
			u.m.ResponseData([]byte(u.reply.Body), true, nil)
		}
	})
}

func (u *scenarioUpstream) Headers(h *filterchain.HeaderMap, end bool) {
	if end {
		u.respond()
	}
}

func (u *scenarioUpstream) Data(b []byte, end bool) {
	u.bodyBytes += len(b)
	if end {
		u.respond()
	}
}

func (u *scenarioUpstream) Trailers(*filterchain.HeaderMap) { u.respond() }

func (u *scenarioUpstream) Reset() {}
