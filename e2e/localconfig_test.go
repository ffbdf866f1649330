package e2e

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host"
)

// localConfigPath is the bootstrap `make run` serves.
const localConfigPath = "../envoy/local.yaml"

// TestLocalConfigWithDemo runs what `make run` runs, with its own plugin
// configuration untouched (only addresses are moved to free ports): the
// demo server behind envoy/local.yaml. The curl-style one-POST search call
// passes until the configured burst is spent and then gets the filter's
// 429, as the line `make run` prints promises.
func TestLocalConfigWithDemo(t *testing.T) {
	d := demo.New(demo.Options{})
	upstream := httptest.NewServer(d.Handler())
	defer upstream.Close()
	defer d.Close()
	logs := &lockedBuffer{}
	h, err := host.New(host.Options{
		ConfigPath:       localConfigPath,
		BaseDir:          "..",
		ListenAddress:    "127.0.0.1:0",
		AdminAddress:     "127.0.0.1:0",
		ClusterAddresses: map[string]string{clusterName: upstream.Listener.Addr().String()},
		WasmPath:         wasmPath,
		Log:              logs,
	})
	if err != nil {
		t.Fatalf("loading %s: %v", localConfigPath, err)
	}
	defer h.Close()
	if err := h.Start(); err != nil {
		t.Fatalf("host.Start: %v\n%s", err, logs)
	}
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	s := &stack{demo: d, host: h, endpoint: h.URL() + demo.DefaultPath, client: &http.Client{Transport: transport, Timeout: testTimeout}}

	const maxBurst = 100 // any sane demo configuration rejects well before
	for i := 1; i <= maxBurst; i++ {
		resp := s.post(t, toolsCallBody(strconv.Itoa(i), demo.ToolSearch), nil)
		if resp.status == http.StatusOK {
			continue
		}
		if i == 1 {
			t.Fatalf("the first search call was refused: status %d body %s", resp.status, resp.body)
		}
		expectRejection(t, resp, http.StatusTooManyRequests, defaultErrorCode, strconv.Itoa(i))
		if got := d.Calls(demo.ToolSearch); got != int64(i-1) {
			t.Errorf("the server ran search %d times, want %d", got, i-1)
		}
		if traps := h.Traps(); traps != 0 {
			t.Errorf("the module trapped %d times", traps)
		}
		return
	}
	t.Fatalf("%d search calls passed: envoy/local.yaml limits nothing", maxBurst)
}
