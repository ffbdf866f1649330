package filtertest_test

import (
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/filtertest"
)

func TestStart(t *testing.T) {
	plugin := filtertest.Plugin{RootID: "mcp-ratelimit", Name: "mcp.mcp-ratelimit"}
	tests := []struct {
		name    string
		config  string
		wantErr string // empty: the plugin must start
	}{
		{name: "shared limit", config: `{"shared":{"maxTokens":5,"refillPeriod":"1m"}}`},
		{name: "unknown field", config: `{"shared":{"maxTokens":5,"refillPeriod":"1m"},"sharedd":{}}`, wantErr: "sharedd"},
		{name: "zero tokens", config: `{"shared":{"maxTokens":0,"refillPeriod":"1m"}}`, wantErr: "maxTokens"},
		{name: "no limit at all", config: `{"paths":["/mcp"]}`, wantErr: "proxy_on_configure returned false"},
		{name: "not JSON", config: `shared: 5`, wantErr: "proxy_on_configure returned false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := filtertest.Start([]byte(tt.config), plugin)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefinedCounters(t *testing.T) {
	config := []byte(`{"shared":{"maxTokens":5,"refillPeriod":"1m"},"tools":[{"name":"search","shared":{"maxTokens":1,"refillPeriod":"1m"}}]}`)
	names := []string{
		"mcp_ratelimit.rl.tools_call.admitted",
		"mcp_ratelimit.rl.tool.search.admitted",
		"mcp_ratelimit.rl.tool.other.admitted",
		"mcp_ratelimit.other.tools_call.admitted",
	}
	defined, err := filtertest.DefinedCounters(config, filtertest.Plugin{RootID: "rl"}, names)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{names[0]: true, names[1]: true, names[2]: false, names[3]: false}
	for name, w := range want {
		if defined[name] != w {
			t.Errorf("counter %s defined = %t, want %t", name, defined[name], w)
		}
	}
}
