// Package host is a local, Envoy-like proxy-wasm host built on wazero. It
// reads the same static Envoy bootstrap YAML a user gives Envoy, loads the
// proxy-wasm module named by its envoy.filters.http.wasm filter, runs one VM
// per worker (all instantiated from one compiled module, as Envoy clones a
// VM to each worker thread), serves HTTP/1.1 on the listener and proxies to
// the upstream cluster, and exposes the module's metrics on an admin
// listener (/stats, /stats/prometheus, /ready).
//
// Fidelity to Envoy is the point: every emulated behaviour names its source
// (Envoy or proxy-wasm-cpp-host) in a comment next to the code. What the
// host emulates and what it does not is listed in envoy/host/README.md.
//
// Typical use in a test:
//
//	h, err := host.New(host.Options{
//		ConfigPath:       "../envoy/local.yaml",
//		ListenAddress:    "127.0.0.1:0",
//		AdminAddress:     "127.0.0.1:0",
//		ClusterAddresses: map[string]string{"mcp_server": upstream.Listener.Addr().String()},
//		WasmPath:         "../build/mcp-ratelimit.wasm",
//		PluginConfig:     []byte(`{"shared":{"maxTokens":3,"refillPeriod":"1m"}}`),
//	})
//	if err != nil { t.Fatal(err) }
//	if err := h.Start(); err != nil { t.Fatal(err) }
//	defer h.Close()
//	url := h.URL() + "/mcp"
package host

import (
	"io"
	"net/http"
	"time"
)

// Options configures a Host. Only one of ConfigPath and ConfigYAML is set.
// Every other field is an override of what the bootstrap says; its zero
// value keeps the bootstrap's value (or the documented default).
type Options struct {
	// ConfigPath is the Envoy bootstrap YAML file to load.
	ConfigPath string
	// ConfigYAML is the bootstrap's content, used when ConfigPath is empty.
	ConfigYAML []byte
	// BaseDir resolves relative file names in the bootstrap (the wasm
	// filename). Default: the current directory, as Envoy resolves them
	// against its working directory.
	BaseDir string

	// ListenAddress replaces the listener's socket address, e.g.
	// "127.0.0.1:0" for a free port; ListenerAddr reports the real one.
	ListenAddress string
	// AdminAddress replaces the admin listener's address; "127.0.0.1:0"
	// picks a free port; AdminAddr reports the real one.
	AdminAddress string
	// ClusterAddresses replaces the endpoints of the named clusters with
	// one "host:port" each (e.g. an httptest server's address).
	ClusterAddresses map[string]string
	// WasmPath replaces vm_config.code.local.filename of every wasm filter.
	WasmPath string
	// PluginConfig replaces the plugin configuration (the
	// google.protobuf.StringValue "configuration") of every wasm filter.
	// Nil keeps the bootstrap's.
	PluginConfig []byte

	// Workers is the number of worker VMs (Envoy's --concurrency).
	// Default 2.
	Workers int
	// ChunkSize, when > 0, splits each request body into chunks of at
	// most this many bytes, each handed to proxy_on_request_body
	// separately (so tests can split bodies at every byte position).
	// 0 hands the body over as it is read from the connection.
	ChunkSize int
	// ChunkSizeFor, when set, returns the chunk size for one request; a
	// result > 0 overrides ChunkSize for that request (tests use it to split
	// the same body at every byte position on one host).
	ChunkSizeFor func(r *http.Request) int
	// EnvoyVersion selects the WASI/ABI profile of an Envoy release:
	// "1.33" .. "1.38" answer poll_oneoff with ENOSYS and allow only
	// proxy_log, fd_write and clock_time_get during
	// proxy_on_memory_allocate; "1.39" and later behave as
	// proxy-wasm-cpp-host PR #533. Default "1.33" (the harshest).
	EnvoyVersion string
	// CallWatchdog, when > 0, aborts any call into a VM that runs longer
	// and fails that VM (then failure_policy applies), so a module that
	// loops cannot hang the host. Envoy has no such watchdog, and wazero
	// makes watched code much slower (proxywasm.WithCallWatchdog), so the
	// default, 0, runs calls to completion as Envoy does.
	CallWatchdog time.Duration
	// Log receives the host's and the module's log lines (module lines
	// carry their level and the plugin name). Default os.Stderr.
	Log io.Writer
	// LogLevel is the lowest level written to Log: trace, debug, info,
	// warn, error or critical. Default info.
	LogLevel string

	// Properties, when set, is called for every request; the returned
	// values (keyed by the dotted property path, e.g.
	// "connection.uri_san_peer_certificate" or "source.address") replace
	// or add to the properties the host derives itself. Values are the
	// bytes proxy_get_property returns (Envoy serializes strings as raw
	// bytes, integers as 8-byte little-endian).
	Properties func(r *http.Request) map[string][]byte
}

// Host is a running (or ready to run) Envoy-like proxy-wasm host. Its
// methods are safe for concurrent use.
type Host struct {
	impl *hostImpl
}

// New loads and validates the bootstrap, applies the overrides, compiles
// the wasm module once and creates the worker VMs (running _initialize,
// proxy_on_vm_start, the root context and proxy_on_configure on each, as
// Envoy does at startup). A bootstrap field the host does not support, or a
// plugin that refuses its configuration, is an error naming it.
func New(opts Options) (*Host, error) {
	impl, err := newHostImpl(opts)
	if err != nil {
		return nil, err
	}
	return &Host{impl: impl}, nil
}

// Start opens the listener and the admin listener and starts serving.
func (h *Host) Start() error { return h.impl.start() }

// Close stops the listeners, finishes the VMs and releases the runtime.
// It is safe to call more than once.
func (h *Host) Close() error { return h.impl.close() }

// ListenerAddr is the listener's actual "host:port" (after Start).
func (h *Host) ListenerAddr() string { return h.impl.listenerAddr() }

// URL is "http://" + ListenerAddr().
func (h *Host) URL() string { return "http://" + h.impl.listenerAddr() }

// AdminAddr is the admin listener's actual "host:port" (after Start).
func (h *Host) AdminAddr() string { return h.impl.adminAddr() }

// Reconfigure applies a new plugin configuration the way Envoy applies an
// LDS update whose vm_config is unchanged: the same VMs and shared data
// stay, every worker gets a new plugin root context that runs
// proxy_on_configure with the new configuration, and the old root
// contexts are finished. If on_configure fails on any worker, the update
// is refused, the new root contexts are dropped and the old configuration
// stays in force; the error says why.
func (h *Host) Reconfigure(pluginConfig []byte) error {
	return h.impl.reconfigure(pluginConfig)
}

// Metrics returns a snapshot of the module's metrics keyed by the name
// /stats shows (the name the module defined, without Envoy's internal
// "wasmcustom." prefix). Counters and gauges are process-wide as in Envoy
// (all workers share one stat); a histogram appears as name+".count" and
// name+".sum".
func (h *Host) Metrics() map[string]uint64 { return h.impl.metrics() }

// Handler returns the listener's HTTP handler, for driving the host
// in-process (e.g. with httptest.NewRecorder) without a socket.
func (h *Host) Handler() http.Handler { return h.impl.handler() }

// Traps returns how many times a module call trapped since New, over all
// workers.
func (h *Host) Traps() int { return h.impl.traps() }
