package envoyconfig

// The allow-list of bootstrap fields the host understands. A path names a
// field from the root of its message: repeated fields carry "[]", and a
// typed_config (google.protobuf.Any) starts a new root named by the packed
// message's full type name. Load refuses any set field whose path is not
// listed here (or below an opaque type), naming the path.
//
// Decision: the list is deliberately small. It covers what a static
// bootstrap for this filter needs (envoy/local.yaml, envoy/envoy.yaml) and a
// few harmless connection-manager options that the host honours
// (per_connection_buffer_limit_bytes, stream_idle_timeout, request_timeout,
// normalize_path, merge_slashes, generate_request_id) or that have no effect
// on the filter (stat_prefix, node, use_remote_address, access logs: those
// are reported in Config.Notes).

// Type names of the messages packed in typed_config fields.
const (
	typeHCM         = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	typeWasm        = "envoy.extensions.filters.http.wasm.v3.Wasm"
	typeRouter      = "envoy.extensions.filters.http.router.v3.Router"
	typeStringValue = "google.protobuf.StringValue"
	typeBytesValue  = "google.protobuf.BytesValue"
	typeStruct      = "google.protobuf.Struct"
	typeStdoutLog   = "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
	typeStderrLog   = "envoy.extensions.access_loggers.stream.v3.StderrAccessLog"
	typeFileLog     = "envoy.extensions.access_loggers.file.v3.FileAccessLog"
)

// allowedPaths are the leaf (or typed_config) fields the host accepts.
var allowedPaths = stringSet(
	// Bootstrap.
	"node.id",
	"node.cluster",
	"admin.address.socket_address.address",
	"admin.address.socket_address.port_value",
	"static_resources.listeners[].name",
	"static_resources.listeners[].address.socket_address.address",
	"static_resources.listeners[].address.socket_address.port_value",
	"static_resources.listeners[].address.socket_address.protocol",
	"static_resources.listeners[].per_connection_buffer_limit_bytes",
	"static_resources.listeners[].filter_chains[].filters[].name",
	"static_resources.listeners[].filter_chains[].filters[].typed_config",
	"static_resources.clusters[].name",
	"static_resources.clusters[].type",
	"static_resources.clusters[].connect_timeout",
	"static_resources.clusters[].lb_policy",
	"static_resources.clusters[].dns_lookup_family",
	"static_resources.clusters[].load_assignment.cluster_name",
	"static_resources.clusters[].load_assignment.endpoints[].lb_endpoints[].endpoint.address.socket_address.address",
	"static_resources.clusters[].load_assignment.endpoints[].lb_endpoints[].endpoint.address.socket_address.port_value",

	// HTTP connection manager.
	typeHCM+".stat_prefix",
	typeHCM+".codec_type",
	typeHCM+".use_remote_address",
	typeHCM+".normalize_path",
	typeHCM+".merge_slashes",
	typeHCM+".path_with_escaped_slashes_action",
	typeHCM+".generate_request_id",
	typeHCM+".stream_idle_timeout",
	typeHCM+".request_timeout",
	typeHCM+".access_log[].name",
	typeHCM+".access_log[].typed_config",
	typeHCM+".route_config.name",
	typeHCM+".route_config.virtual_hosts[].name",
	typeHCM+".route_config.virtual_hosts[].domains",
	typeHCM+".route_config.virtual_hosts[].routes[].name",
	typeHCM+".route_config.virtual_hosts[].routes[].match.prefix",
	typeHCM+".route_config.virtual_hosts[].routes[].match.path",
	typeHCM+".route_config.virtual_hosts[].routes[].route.cluster",
	typeHCM+".route_config.virtual_hosts[].routes[].route.timeout",
	typeHCM+".http_filters[].name",
	typeHCM+".http_filters[].typed_config",

	// Wasm HTTP filter.
	typeWasm+".config.name",
	typeWasm+".config.root_id",
	typeWasm+".config.configuration",
	typeWasm+".config.fail_open",
	typeWasm+".config.failure_policy",
	typeWasm+".config.reload_config.backoff.base_interval",
	typeWasm+".config.reload_config.backoff.max_interval",
	typeWasm+".config.vm_config.vm_id",
	typeWasm+".config.vm_config.runtime",
	typeWasm+".config.vm_config.code.local.filename",
	typeWasm+".config.vm_config.code.local.inline_bytes",
	typeWasm+".config.vm_config.configuration",
	typeWasm+".config.vm_config.environment_variables.key_values",
	typeWasm+".config.vm_config.allow_precompiled",
	typeWasm+".config.vm_config.nack_on_code_cache_miss",

	// Plugin and VM configuration payloads.
	typeStringValue+".value",
	typeBytesValue+".value",
)

// opaqueTypes are packed messages accepted whole, without looking inside:
// the JSON configuration as a Struct, and access loggers (not emulated).
var opaqueTypes = stringSet(typeStruct, typeStdoutLog, typeStderrLog, typeFileLog)

// allowedAnyTypes lists, per typed_config path, the packed types accepted
// there.
var allowedAnyTypes = map[string]map[string]bool{
	"static_resources.listeners[].filter_chains[].filters[].typed_config": stringSet(typeHCM),
	typeHCM + ".http_filters[].typed_config":                              stringSet(typeWasm, typeRouter),
	typeHCM + ".access_log[].typed_config":                                stringSet(typeStdoutLog, typeStderrLog, typeFileLog),
	typeWasm + ".config.configuration":                                    stringSet(typeStringValue, typeBytesValue, typeStruct),
	typeWasm + ".config.vm_config.configuration":                          stringSet(typeStringValue, typeBytesValue, typeStruct),
}

// allowedPrefixes holds every proper prefix of an allowed path, so a set
// message field (even an empty one) on the way to an allowed leaf passes
// and any other set message is refused.
var allowedPrefixes = func() map[string]bool {
	out := map[string]bool{}
	for p := range allowedPaths {
		for i := 0; i < len(p); i++ {
			if p[i] == '.' {
				out[p[:i]] = true
			}
		}
	}
	return out
}()

func stringSet(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}
