package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/shareddata"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/stats"
)

// hostImpl is the implementation behind Host.
type hostImpl struct {
	opts     Options
	cfg      *envoyconfig.Config
	logger   *logger
	env      *proxywasm.Env
	stats    *stats.Store
	runtimes map[[32]byte]*proxywasm.Runtime
	filters  []*filterSlot // one per HTTP filter of the chain (nil for the router)
	workers  []*worker
	clusters map[string]*cluster

	nextWorker atomic.Uint32
	nextConnID atomic.Uint64
	trapCount  atomic.Int64

	mu        sync.Mutex // guards the servers and reconfiguration
	listener  net.Listener
	admin     net.Listener
	server    *http.Server
	adminSrv  *http.Server
	started   bool
	closed    bool
	closeOnce sync.Once
}

// filterSlot is one envoy.filters.http.wasm filter of the chain.
type filterSlot struct {
	index   int
	wasm    *envoyconfig.WasmFilter
	runtime *proxywasm.Runtime
	vmKey   string
	plugin  proxywasm.PluginConfig
}

func newHostImpl(opts Options) (*hostImpl, error) {
	if opts.Workers < 0 {
		return nil, fmt.Errorf("host: workers must be >= 1, got %d", opts.Workers)
	}
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.ChunkSize < 0 {
		return nil, fmt.Errorf("host: chunk size must be >= 0, got %d", opts.ChunkSize)
	}
	level, err := proxywasm.ParseLogLevel(opts.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	profile, err := proxywasm.ProfileFor(opts.EnvoyVersion)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	out := opts.Log
	if out == nil {
		out = os.Stderr
	}
	h := &hostImpl{opts: opts, logger: &logger{w: out, level: level}, stats: stats.NewStore(),
		runtimes: map[[32]byte]*proxywasm.Runtime{}}

	var cfg *envoyconfig.Config
	switch {
	case opts.ConfigPath != "":
		cfg, err = envoyconfig.LoadFile(opts.ConfigPath)
	case len(opts.ConfigYAML) > 0:
		cfg, err = envoyconfig.Load(opts.ConfigYAML)
	default:
		err = errors.New("host: no bootstrap: set Options.ConfigPath or Options.ConfigYAML")
	}
	if err != nil {
		return nil, err
	}
	if err := applyOverrides(cfg, opts); err != nil {
		return nil, err
	}
	h.cfg = cfg
	for _, note := range cfg.Notes {
		h.logger.logf(proxywasm.LogInfo, "[config] %s", note)
	}
	h.clusters = map[string]*cluster{}
	for name, c := range cfg.Clusters {
		h.clusters[name] = newCluster(c)
	}
	h.env = &proxywasm.Env{
		SharedData:  shareddata.NewStore(),
		Queues:      shareddata.NewQueues(),
		Stats:       h.stats,
		Log:         h.logger.line,
		LogLevel:    level,
		HasCluster:  func(name string) bool { _, ok := h.clusters[name]; return ok },
		HTTPCall:    h.httpCall,
		RedisCall:   h.redisCall,
		CallTimeout: opts.CallWatchdog,
		OnFailure: func(vm *proxywasm.VM, err error) {
			h.trapCount.Add(1)
		},
	}
	if err := h.setupFilters(profile); err != nil {
		h.closeRuntimes()
		return nil, err
	}
	for i := 0; i < opts.Workers; i++ {
		w, err := h.newWorker(i)
		if err != nil {
			h.closeWorkers()
			h.closeRuntimes()
			return nil, err
		}
		h.workers = append(h.workers, w)
	}
	return h, nil
}

// applyOverrides applies the Options that replace bootstrap values.
func applyOverrides(cfg *envoyconfig.Config, opts Options) error {
	if opts.ListenAddress != "" {
		cfg.Listener.Address = opts.ListenAddress
	}
	if opts.AdminAddress != "" {
		cfg.AdminAddress = opts.AdminAddress
	}
	for name, addr := range opts.ClusterAddresses {
		c, ok := cfg.Clusters[name]
		if !ok {
			return fmt.Errorf("host: ClusterAddresses names cluster %q, which the bootstrap does not define (clusters: %v)", name, cfg.ClusterNames())
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("host: ClusterAddresses[%q] = %q: %w", name, addr, err)
		}
		c.Endpoints = []string{addr}
	}
	for _, w := range cfg.WasmFilters() {
		if opts.WasmPath != "" {
			w.CodePath, w.CodeInline = opts.WasmPath, nil
		}
		if opts.PluginConfig != nil {
			w.Configuration = append([]byte(nil), opts.PluginConfig...)
		}
	}
	return nil
}

// setupFilters compiles each distinct module once and computes the VM key
// of each filter: filters with the same vm_id, code and VM configuration
// share one VM per worker, as Envoy shares a VM by its vm_key
// (source/extensions/common/wasm/wasm.cc createWasm, proxy-wasm-cpp-host
// makeVmKey).
func (h *hostImpl) setupFilters(profile proxywasm.Profile) error {
	ctx := context.Background()
	for i, f := range h.cfg.Listener.HTTPFilters {
		if f.Wasm == nil {
			h.filters = append(h.filters, nil)
			continue
		}
		code := f.Wasm.CodeInline
		if code == nil {
			path := f.Wasm.CodePath
			if !filepath.IsAbs(path) && h.opts.BaseDir != "" {
				path = filepath.Join(h.opts.BaseDir, path)
			}
			var err error
			code, err = os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("host: filter %s: vm_config.code.local.filename: %w", f.Name, err)
			}
		}
		sum := sha256.Sum256(code)
		rt, ok := h.runtimes[sum]
		if !ok {
			var err error
			var runtimeOpts []proxywasm.RuntimeOption
			if h.opts.CallWatchdog > 0 {
				runtimeOpts = append(runtimeOpts, proxywasm.WithCallWatchdog())
			}
			rt, err = proxywasm.NewRuntime(ctx, code, profile, runtimeOpts...)
			if err != nil {
				return fmt.Errorf("host: filter %s: %w", f.Name, err)
			}
			h.runtimes[sum] = rt
		}
		vmSum := sha256.Sum256(append(append([]byte(f.Wasm.VMID+"\x00"), sum[:]...), f.Wasm.VMConfiguration...))
		h.filters = append(h.filters, &filterSlot{
			index:   i,
			wasm:    f.Wasm,
			runtime: rt,
			vmKey:   fmt.Sprintf("%x", vmSum[:8]),
			plugin: proxywasm.PluginConfig{
				Name:          f.Wasm.PluginName,
				RootID:        f.Wasm.RootID,
				Configuration: f.Wasm.Configuration,
			},
		})
	}
	return nil
}

func (h *hostImpl) closeRuntimes() {
	for _, rt := range h.runtimes {
		_ = rt.Close(context.Background())
	}
}

func (h *hostImpl) closeWorkers() {
	for _, w := range h.workers {
		w.close()
	}
}

func (h *hostImpl) start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("host: closed")
	}
	if h.started {
		return errors.New("host: already started")
	}
	ln, err := net.Listen("tcp", h.cfg.Listener.Address)
	if err != nil {
		return fmt.Errorf("host: listener %s: %w", h.cfg.Listener.Address, err)
	}
	h.listener = ln
	h.server = &http.Server{
		Handler:           h.handler(),
		ReadHeaderTimeout: 60 * time.Second,
		ConnContext:       h.connContext,
		ErrorLog:          h.logger.stdLogger("[http] "),
	}
	if h.cfg.Listener.HTTP2 {
		// codec_type AUTO: Envoy also speaks HTTP/2 with prior knowledge
		// on a plaintext listener (h2c).
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		h.server.Protocols = &p
	}
	go func() { _ = h.server.Serve(ln) }()
	if h.cfg.AdminAddress != "" {
		aln, err := net.Listen("tcp", h.cfg.AdminAddress)
		if err != nil {
			_ = h.server.Close()
			return fmt.Errorf("host: admin listener %s: %w", h.cfg.AdminAddress, err)
		}
		h.admin = aln
		h.adminSrv = &http.Server{Handler: h.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = h.adminSrv.Serve(aln) }()
	}
	h.started = true
	h.logger.logf(proxywasm.LogInfo, "[main] listening on %s (admin %s), %d workers, envoy profile %s",
		ln.Addr(), h.adminAddrLocked(), len(h.workers), h.workers[0].profileName())
	return nil
}

func (h *hostImpl) close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		srv, admin := h.server, h.adminSrv
		h.mu.Unlock()
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
			_ = srv.Close()
		}
		if admin != nil {
			_ = admin.Close()
		}
		for _, w := range h.workers {
			w.shutdown()
		}
		h.closeWorkers()
		h.closeRuntimes()
		for _, c := range h.clusters {
			c.close()
		}
	})
	return nil
}

func (h *hostImpl) listenerAddr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.listener == nil {
		return ""
	}
	return h.listener.Addr().String()
}

func (h *hostImpl) adminAddr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.adminAddrLocked()
}

func (h *hostImpl) adminAddrLocked() string {
	if h.admin == nil {
		return ""
	}
	return h.admin.Addr().String()
}

func (h *hostImpl) metrics() map[string]uint64 { return h.stats.Snapshot() }

func (h *hostImpl) traps() int { return int(h.trapCount.Load()) }

// reconfigure applies a new plugin configuration to every Wasm filter on
// every worker, all or nothing.
func (h *hostImpl) reconfigure(cfg []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("host: closed")
	}
	type started struct {
		w    *worker
		slot *filterSlot
		root *proxywasm.RootContext
	}
	var done []started
	for _, w := range h.workers {
		for _, slot := range h.filters {
			if slot == nil {
				continue
			}
			plugin := slot.plugin
			plugin.Configuration = append([]byte(nil), cfg...)
			root, err := w.startPlugin(slot, plugin)
			if err != nil {
				for _, d := range done {
					d.root.Shutdown()
				}
				return fmt.Errorf("host: reconfigure refused, the previous configuration stays in force: worker %d: %w", w.index, err)
			}
			done = append(done, started{w, slot, root})
		}
	}
	for _, slot := range h.filters {
		if slot != nil {
			slot.plugin.Configuration = append([]byte(nil), cfg...)
		}
	}
	for _, d := range done {
		if old := d.w.swapRoot(d.slot, d.root); old != nil {
			old.Shutdown()
		}
	}
	h.logger.logf(proxywasm.LogInfo, "[main] plugin configuration updated on %d workers", len(h.workers))
	return nil
}

// connContext assigns each connection a worker, round robin, as Envoy
// hands each accepted connection to one worker thread for its lifetime.
func (h *hostImpl) connContext(ctx context.Context, c net.Conn) context.Context {
	n := h.nextWorker.Add(1) - 1
	return context.WithValue(ctx, connKey{}, &connInfo{
		worker: int(n % uint32(len(h.workers))),
		id:     h.nextConnID.Add(1),
		local:  c.LocalAddr().String(),
	})
}

type connKey struct{}

type connInfo struct {
	worker int
	id     uint64
	local  string
}

// logger writes host and module log lines.
type logger struct {
	mu    sync.Mutex
	w     io.Writer
	level proxywasm.LogLevel
}

func (l *logger) line(level proxywasm.LogLevel, msg string) {
	if level < l.level {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "[%s][%s]%s\n", time.Now().Format("2006-01-02 15:04:05.000"), level, prefixSpace(msg))
}

func prefixSpace(s string) string {
	if len(s) > 0 && s[0] == '[' {
		return s
	}
	return " " + s
}

func (l *logger) logf(level proxywasm.LogLevel, format string, args ...any) {
	l.line(level, fmt.Sprintf(format, args...))
}
