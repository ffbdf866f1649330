// Package envoyconfig loads the subset of an Envoy static bootstrap that the
// local proxy-wasm host emulates, with Envoy's own API types from
// github.com/envoyproxy/go-control-plane.
//
// The bootstrap YAML is converted to JSON (sigs.k8s.io/yaml) and decoded
// with protojson into envoy.config.bootstrap.v3.Bootstrap, strictly: an
// unknown field is an error, as it is for Envoy. Every typed_config is
// resolved to its registered type and the generated ValidateAll of each
// message runs, so a file accepted here is also well formed for Envoy.
//
// The host emulates only part of Envoy. Every field that is set in the file
// is checked against an allow-list (see allowlist.go); a field outside it is
// refused with an error naming its path, never silently ignored. A few
// accepted fields have no effect in the host (access logs, the VM runtime
// name); Load reports them in Config.Notes so the command can print them.
package envoyconfig

import "time"

// DefaultBufferLimit is Envoy's default per-connection buffer limit (1 MiB),
// which also bounds what one HTTP stream may buffer
// (envoy/config/listener/v3/listener.proto per_connection_buffer_limit_bytes).
const DefaultBufferLimit = 1 << 20

// DefaultRouteTimeout is Envoy's default upstream route timeout
// (envoy/config/route/v3/route_components.proto RouteAction.timeout: 15s).
const DefaultRouteTimeout = 15 * time.Second

// DefaultStreamIdleTimeout is the HTTP connection manager's default
// stream_idle_timeout (5 minutes, http_connection_manager.proto).
const DefaultStreamIdleTimeout = 5 * time.Minute

// DefaultReloadBackoff is the base interval Envoy waits before recreating a
// failed VM under FAIL_RELOAD when reload_config.backoff is not set
// (envoy/extensions/wasm/v3/wasm.proto ReloadConfig).
const DefaultReloadBackoff = time.Second

// Config is what the host needs from a bootstrap.
type Config struct {
	// AdminAddress is the admin listener's "host:port"; empty when the
	// bootstrap has no admin section.
	AdminAddress string
	// Listener is the one static listener.
	Listener Listener
	// Clusters are the static clusters by name.
	Clusters map[string]*Cluster
	// Notes lists accepted fields that the host does not emulate (for
	// example access logs), one human-readable line each.
	Notes []string
}

// Listener is a static listener with one HTTP connection manager.
type Listener struct {
	Name    string
	Address string // "host:port"
	// BufferLimit is per_connection_buffer_limit_bytes (default 1 MiB):
	// the most a filter may buffer of one stream before Envoy answers 413.
	BufferLimit int
	// StatPrefix is the HTTP connection manager's stat_prefix.
	StatPrefix string
	// HTTPFilters is the HTTP filter chain, in order; the last one is the
	// router.
	HTTPFilters []HTTPFilter
	// VirtualHosts is the static route configuration.
	VirtualHosts []VirtualHost
	// StreamIdleTimeout ends a stream with 408 when nothing happens on it
	// for this long (0 disables it).
	StreamIdleTimeout time.Duration
	// RequestTimeout bounds the time to receive the whole request (0
	// disables it).
	RequestTimeout time.Duration
	// NormalizePath and MergeSlashes mirror the connection manager's path
	// handling options.
	NormalizePath bool
	MergeSlashes  bool
	// EscapedSlashes is path_with_escaped_slashes_action: "" (keep),
	// REJECT_REQUEST, UNESCAPE_AND_REDIRECT or UNESCAPE_AND_FORWARD.
	EscapedSlashes string
	// HTTP2 is true when the codec accepts HTTP/2 (codec_type AUTO): the
	// host then also serves h2c with prior knowledge.
	HTTP2 bool
	// GenerateRequestID adds x-request-id when the request has none
	// (Envoy's default is true).
	GenerateRequestID bool
}

// HTTPFilter is one entry of the HTTP filter chain: a Wasm filter or the
// router.
type HTTPFilter struct {
	Name   string
	Wasm   *WasmFilter // set for envoy.filters.http.wasm
	Router bool        // true for envoy.filters.http.router
}

// FailurePolicy is what Envoy does with requests once a plugin's VM failed.
type FailurePolicy int

const (
	// FailClosed answers 503 (Envoy's default, also for UNSPECIFIED).
	FailClosed FailurePolicy = iota
	// FailOpen lets requests through as if the filter were not there.
	FailOpen
	// FailReload creates a new VM for the next request (after a backoff).
	FailReload
)

// String names the policy as the proto enum does.
func (p FailurePolicy) String() string {
	switch p {
	case FailOpen:
		return "FAIL_OPEN"
	case FailReload:
		return "FAIL_RELOAD"
	default:
		return "FAIL_CLOSED"
	}
}

// WasmFilter is an envoy.filters.http.wasm filter's plugin configuration.
type WasmFilter struct {
	// PluginName is config.name (the property plugin_name).
	PluginName string
	// RootID is config.root_id.
	RootID string
	// VMID is vm_config.vm_id; shared data and queues are scoped by it.
	VMID string
	// Runtime is vm_config.runtime (accepted; the host always runs wazero).
	Runtime string
	// CodePath is vm_config.code.local.filename as written in the file.
	CodePath string
	// CodeInline is vm_config.code.local.inline_bytes, when used instead
	// of a file name.
	CodeInline []byte
	// VMConfiguration is vm_config.configuration (passed to on_vm_start).
	VMConfiguration []byte
	// Configuration is the plugin configuration (passed to on_configure).
	Configuration []byte
	// Env is vm_config.environment_variables.key_values.
	Env map[string]string
	// FailurePolicy is config.failure_policy (or fail_open).
	FailurePolicy FailurePolicy
	// ReloadBackoff is the base interval of reload_config.backoff.
	ReloadBackoff time.Duration
}

// VirtualHost is a route_config virtual host.
type VirtualHost struct {
	Name    string
	Domains []string
	Routes  []Route
}

// Route matches a request path and forwards it to a cluster.
type Route struct {
	Name string
	// Exactly one of Prefix, Path is the match.
	Prefix string
	Path   string
	// Cluster is the upstream cluster's name.
	Cluster string
	// Timeout is the route timeout (default 15s; 0 disables it).
	Timeout time.Duration
}

// Cluster is a static upstream cluster.
type Cluster struct {
	Name string
	// Type is STATIC or STRICT_DNS (LOGICAL_DNS is treated alike).
	Type string
	// Endpoints are "host:port" addresses, used round robin.
	Endpoints []string
	// ConnectTimeout is connect_timeout (default 5s).
	ConnectTimeout time.Duration
}

// Routes lists the routes of every virtual host, in order.
func (l *Listener) Routes() []Route {
	var out []Route
	for _, vh := range l.VirtualHosts {
		out = append(out, vh.Routes...)
	}
	return out
}
