package envoy_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
)

// TestRedisClusterExists: every plugin configuration with a redis object
// names a cluster its bootstrap defines (proxy_http_call to an unknown
// cluster fails every call, and the filter would run on its failureMode
// only), and the credentials match the shipped webdis.json.
func TestRedisClusterExists(t *testing.T) {
	webdis, err := os.ReadFile("webdis.json")
	if err != nil {
		t.Fatal(err)
	}
	var acl struct {
		ACL []struct {
			Auth     string   `json:"http_basic_auth"`
			Enabled  []string `json:"enabled"`
			Disabled []string `json:"disabled"`
		} `json:"acl"`
	}
	if err := json.Unmarshal(webdis, &acl); err != nil {
		t.Fatalf("webdis.json: %v", err)
	}
	if len(acl.ACL) != 2 || strings.Join(acl.ACL[0].Disabled, ",") != "*" || acl.ACL[1].Auth == "" ||
		strings.Join(acl.ACL[1].Enabled, ",") != "EVALSHA,EVAL" {
		t.Errorf("webdis.json ACL %+v: want every command disabled, then EVALSHA and EVAL for the credentials only", acl.ACL)
	}
	found := 0
	for _, file := range yamlFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b, err := envoyconfig.Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		clusters := map[string]bool{}
		for _, c := range b.GetStaticResources().GetClusters() {
			clusters[c.GetName()] = true
		}
		for _, chain := range httpFilterChains(t, b) {
			for _, w := range wasmFilters(t, chain.hcm) {
				cfg, err := pluginConfiguration(w.config)
				if err != nil {
					t.Fatal(err)
				}
				var plugin struct {
					Redis *struct {
						Cluster, Username, Password string
					} `json:"redis"`
				}
				if err := json.Unmarshal(cfg, &plugin); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				if plugin.Redis == nil {
					continue
				}
				found++
				if !clusters[plugin.Redis.Cluster] {
					t.Errorf("%s: redis.cluster %q is not a cluster of the bootstrap", file, plugin.Redis.Cluster)
				}
				if got := plugin.Redis.Username + ":" + plugin.Redis.Password; got != acl.ACL[1].Auth {
					t.Errorf("%s: credentials %q differ from webdis.json's %q", file, got, acl.ACL[1].Auth)
				}
			}
		}
	}
	if found == 0 {
		t.Error("no bootstrap configures redis: local-redis.yaml is missing")
	}
}
