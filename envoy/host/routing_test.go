package host

import (
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
)

func TestRouteSelection(t *testing.T) {
	h := &hostImpl{cfg: &envoyconfig.Config{Listener: envoyconfig.Listener{VirtualHosts: []envoyconfig.VirtualHost{
		{Name: "exact", Domains: []string{"api.example:8080"}, Routes: []envoyconfig.Route{{Path: "/mcp", Cluster: "exact-mcp"}, {Prefix: "/", Cluster: "exact-any"}}},
		{Name: "suffix", Domains: []string{"*.example"}, Routes: []envoyconfig.Route{{Prefix: "/", Cluster: "suffix"}}},
		{Name: "prefix", Domains: []string{"internal.*"}, Routes: []envoyconfig.Route{{Prefix: "/", Cluster: "prefix"}}},
		{Name: "fallback", Domains: []string{"*"}, Routes: []envoyconfig.Route{{Prefix: "/only", Cluster: "fallback"}}},
	}}}}
	tests := []struct {
		authority, path string
		cluster         string // "" = no route
	}{
		{"api.example:8080", "/mcp?x=1", "exact-mcp"},
		{"api.example:8080", "/mcp/sub", "exact-any"},
		{"API.EXAMPLE:8080", "/", "exact-any"},
		{"other.example", "/", "suffix"},
		{"internal.local", "/", "prefix"},
		{"nowhere", "/only/this", "fallback"},
		{"nowhere", "/elsewhere", ""},
	}
	for _, tt := range tests {
		r, ok := h.route(tt.authority, tt.path)
		got := ""
		if ok {
			got = r.Cluster
		}
		if got != tt.cluster {
			t.Errorf("route(%q, %q) = %q, want %q", tt.authority, tt.path, got, tt.cluster)
		}
	}
}

func TestPathHandling(t *testing.T) {
	tests := []struct {
		name             string
		normalize, merge bool
		escaped          string
		path             string
		wantPath         string
		wantStatus       int // 0: the request goes on
		wantLocation     string
	}{
		{"untouched by default", false, false, "", "/a//b/../c", "/a//b/../c", 0, ""},
		{"merge slashes", false, true, "", "/a//b///c?q=//", "/a/b/c?q=//", 0, ""},
		{"normalize dot segments", true, false, "", "/a/./b/../c/", "/a/c/", 0, ""},
		{"both", true, true, "", "//mcp/../mcp", "/mcp", 0, ""},
		{"escaped slashes rejected", false, false, "REJECT_REQUEST", "/a%2Fb", "", 400, ""},
		{"escaped slashes redirected", true, true, "UNESCAPE_AND_REDIRECT", "/a%2fb", "", 307, "/a/b"},
		{"escaped slashes forwarded", false, false, "UNESCAPE_AND_FORWARD", "/a%2Fb?x=%2F", "/a/b?x=%2F", 0, ""},
		{"nothing escaped", false, false, "REJECT_REQUEST", "/a/b", "/a/b", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hostImpl{cfg: &envoyconfig.Config{Listener: envoyconfig.Listener{NormalizePath: tt.normalize, MergeSlashes: tt.merge, EscapedSlashes: tt.escaped}}}
			hm := filterchain.NewHeaderMap([2]string{":path", h.normalizePath(tt.path)})
			reply, ok := h.escapedSlashes(hm)
			if tt.wantStatus != 0 {
				if ok || reply.Status != tt.wantStatus {
					t.Fatalf("reply %+v ok=%v, want status %d", reply, ok, tt.wantStatus)
				}
				if tt.wantLocation != "" && (len(reply.Headers) != 1 || reply.Headers[0][1] != tt.wantLocation) {
					t.Fatalf("location %v, want %q", reply.Headers, tt.wantLocation)
				}
				return
			}
			if got, _ := hm.Get(":path"); !ok || got != tt.wantPath {
				t.Fatalf("path %q ok=%v, want %q", got, ok, tt.wantPath)
			}
		})
	}
}
