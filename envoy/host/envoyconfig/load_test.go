package envoyconfig

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// base is a minimal valid bootstrap; tests replace its markers.
const base = `
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
static_resources:
  listeners:
  - name: l
    address:
      socket_address: { address: 127.0.0.1, port_value: 10000 }
    LISTENER_EXTRA
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: mcp
          HCM_EXTRA
          route_config:
            virtual_hosts:
            - name: mcp
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: mcp_server ROUTE_EXTRA }
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: rl
                root_id: rl
                WASM_EXTRA
                vm_config:
                  vm_id: rl
                  runtime: envoy.wasm.runtime.v8
                  code: { local: { filename: build/mcp-ratelimit.wasm } }
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"shared":{"maxTokens":5,"refillPeriod":"1m"}}'
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: mcp_server
    type: STATIC
    CLUSTER_EXTRA
    load_assignment:
      cluster_name: mcp_server
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 8080 }
`

func bootstrap(repl map[string]string) string {
	s := base
	for _, marker := range []string{"LISTENER_EXTRA", "HCM_EXTRA", "ROUTE_EXTRA", "WASM_EXTRA", "CLUSTER_EXTRA"} {
		s = strings.ReplaceAll(s, marker, repl[marker])
	}
	return s
}

func TestLoadLocalBootstrap(t *testing.T) {
	cfg, err := LoadFile("../../../envoy/local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listener.Address != "127.0.0.1:10000" || cfg.AdminAddress != "127.0.0.1:9901" {
		t.Errorf("addresses = %q, admin %q", cfg.Listener.Address, cfg.AdminAddress)
	}
	if got := cfg.Clusters["mcp_server"].Endpoints; len(got) != 1 || got[0] != "127.0.0.1:8080" {
		t.Errorf("mcp_server endpoints = %v", got)
	}
	w := cfg.WasmFilters()
	if len(w) != 1 || w[0].CodePath != "build/mcp-ratelimit.wasm" || w[0].FailurePolicy != FailClosed {
		t.Fatalf("wasm filters = %+v", w)
	}
	if !strings.Contains(string(w[0].Configuration), `"maxTokens": 5`) {
		t.Errorf("configuration = %s", w[0].Configuration)
	}
	if cfg.Listener.Routes()[0].Timeout != 0 {
		t.Errorf("route timeout = %v, want 0 (disabled for SSE)", cfg.Listener.Routes()[0].Timeout)
	}
}

func TestLoadConverts(t *testing.T) {
	tests := []struct {
		name  string
		repl  map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"defaults", nil, func(t *testing.T, c *Config) {
			if c.Listener.BufferLimit != DefaultBufferLimit || c.Listener.StreamIdleTimeout != DefaultStreamIdleTimeout ||
				!c.Listener.GenerateRequestID || c.Listener.Routes()[0].Timeout != DefaultRouteTimeout {
				t.Errorf("listener = %+v", c.Listener)
			}
			if w := c.WasmFilters()[0]; w.FailurePolicy != FailClosed || w.ReloadBackoff != DefaultReloadBackoff || w.VMID != "rl" || w.RootID != "rl" || w.PluginName != "rl" {
				t.Errorf("wasm = %+v", w)
			}
		}},
		{"buffer limit and timeouts", map[string]string{
			"LISTENER_EXTRA": "per_connection_buffer_limit_bytes: 4096",
			"HCM_EXTRA":      "stream_idle_timeout: 3s\n          request_timeout: 2s\n          merge_slashes: true\n          normalize_path: true",
			"ROUTE_EXTRA":    ", timeout: 7s",
		}, func(t *testing.T, c *Config) {
			l := c.Listener
			if l.BufferLimit != 4096 || l.StreamIdleTimeout != 3*time.Second || l.RequestTimeout != 2*time.Second || !l.MergeSlashes || !l.NormalizePath {
				t.Errorf("listener = %+v", l)
			}
			if l.Routes()[0].Timeout != 7*time.Second {
				t.Errorf("route timeout = %v", l.Routes()[0].Timeout)
			}
		}},
		{"fail open (deprecated field)", map[string]string{"WASM_EXTRA": "fail_open: true"}, func(t *testing.T, c *Config) {
			if p := c.WasmFilters()[0].FailurePolicy; p != FailOpen {
				t.Errorf("policy = %v", p)
			}
		}},
		{"fail reload with backoff", map[string]string{"WASM_EXTRA": "failure_policy: FAIL_RELOAD\n                reload_config: { backoff: { base_interval: 0.05s } }"}, func(t *testing.T, c *Config) {
			w := c.WasmFilters()[0]
			if w.FailurePolicy != FailReload || w.ReloadBackoff != 50*time.Millisecond {
				t.Errorf("policy = %v backoff %v", w.FailurePolicy, w.ReloadBackoff)
			}
		}},
		{"access log accepted with a note", map[string]string{"HCM_EXTRA": `access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`}, func(t *testing.T, c *Config) {
			if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "access_log") {
				t.Errorf("notes = %q", c.Notes)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load([]byte(bootstrap(tt.repl)))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestLoadStructConfiguration(t *testing.T) {
	y := strings.Replace(bootstrap(nil), `"@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"shared":{"maxTokens":5,"refillPeriod":"1m"}}'`, `"@type": type.googleapis.com/google.protobuf.Struct
                  value: { shared: { maxTokens: 5, refillPeriod: 1m } }`, 1)
	cfg, err := Load([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	got := string(cfg.WasmFilters()[0].Configuration)
	if !strings.Contains(got, `"maxTokens":5`) || !strings.Contains(got, `"refillPeriod":"1m"`) {
		t.Errorf("configuration = %s", got)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // a substring of the error naming the field
	}{
		{"unknown field (strict decoding)", bootstrap(map[string]string{"CLUSTER_EXTRA": "no_such_field: 1"}), "no_such_field"},
		{"listener filters", bootstrap(map[string]string{"LISTENER_EXTRA": "listener_filters: [{name: envoy.filters.listener.tls_inspector}]"}), "listener_filters"},
		{"transport socket (TLS)", bootstrap(map[string]string{"CLUSTER_EXTRA": `transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`}), "transport_socket"},
		{"circuit breakers", bootstrap(map[string]string{"CLUSTER_EXTRA": "circuit_breakers: { thresholds: [{ max_requests: 1 }] }"}), "circuit_breakers"},
		{"route retry policy", bootstrap(map[string]string{"ROUTE_EXTRA": ", retry_policy: { retry_on: 5xx }"}), "retry_policy"},
		{"hcm tracing", bootstrap(map[string]string{"HCM_EXTRA": "tracing: {}"}), "tracing"},
		{"wasm code from remote", strings.Replace(bootstrap(nil), "code: { local: { filename: build/mcp-ratelimit.wasm } }",
			"code: { remote: { http_uri: { uri: 'http://x/y.wasm', cluster: mcp_server, timeout: 1s }, sha256: abc } }", 1), "code.remote"},
		{"codec http2", bootstrap(map[string]string{"HCM_EXTRA": "codec_type: HTTP2"}), "codec_type"},
		{"eds cluster", strings.Replace(bootstrap(nil), "type: STATIC", "type: EDS", 1), "type"},
		{"lb policy", bootstrap(map[string]string{"CLUSTER_EXTRA": "lb_policy: RANDOM"}), "lb_policy"},
		{"unsupported http filter", strings.Replace(bootstrap(nil), `- name: envoy.filters.http.router`, `- name: envoy.filters.http.cors
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors
          - name: envoy.filters.http.router`, 1), "typed_config"},
		{"router not last", strings.Replace(bootstrap(nil), `          - name: envoy.filters.http.wasm`, `          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          - name: envoy.filters.http.wasm`, 1), "router must be the last"},
		{"two listeners", strings.Replace(bootstrap(nil), "  clusters:", `  - name: second
    address:
      socket_address: { address: 127.0.0.1, port_value: 10001 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: t
          cluster: mcp_server
  clusters:`, 1), "typed_config"},
		{"unknown route cluster", strings.Replace(bootstrap(nil), "route: { cluster: mcp_server", "route: { cluster: nowhere", 1), "unknown cluster"},
		{"Envoy validation (empty stat_prefix)", strings.Replace(bootstrap(nil), "stat_prefix: mcp", "stat_prefix: ''", 1), "validation"},
		{"not YAML", "{{{", "not valid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.yaml))
			if err == nil {
				t.Fatal("Load accepted the bootstrap")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestUnsupportedErrorNamesPath(t *testing.T) {
	_, err := Load([]byte(bootstrap(map[string]string{"LISTENER_EXTRA": "listener_filters: [{name: envoy.filters.listener.tls_inspector}]"})))
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.Path != "static_resources.listeners[].listener_filters" {
		t.Fatalf("error = %v, want UnsupportedError for static_resources.listeners[].listener_filters", err)
	}
}

// TestLoadShippedBootstraps: the bootstrap users give Envoy (envoy/envoy.yaml)
// also runs in the host; the JWT variant needs filters the host does not
// emulate and is refused with an error naming the filter's field.
func TestLoadShippedBootstraps(t *testing.T) {
	cfg, err := LoadFile("../../../envoy/envoy.yaml")
	if err != nil {
		t.Fatalf("envoy/envoy.yaml: %v", err)
	}
	if len(cfg.WasmFilters()) != 1 {
		t.Fatalf("envoy/envoy.yaml: %d wasm filters", len(cfg.WasmFilters()))
	}
	if _, err := LoadFile("../../../envoy/envoy-jwt.yaml"); err == nil || !strings.Contains(err.Error(), "http_filters[].typed_config") {
		t.Fatalf("envoy/envoy-jwt.yaml: %v, want a refusal naming http_filters[].typed_config", err)
	}
}

func TestEscapedSlashesAction(t *testing.T) {
	cfg, err := Load([]byte(bootstrap(map[string]string{"HCM_EXTRA": "path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT"})))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listener.EscapedSlashes != "UNESCAPE_AND_REDIRECT" {
		t.Fatalf("EscapedSlashes = %q", cfg.Listener.EscapedSlashes)
	}
}
