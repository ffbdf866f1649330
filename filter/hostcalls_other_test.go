//go:build !wasip1

package filter_test

import (
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

// TestRefusedHeaderMap: when the host cannot hand the request's header map
// over, the filter asks for :method and :path one by one; a POST under
// the paths is refused with 415 (its Content-Type cannot be checked, so
// its body would be read blind) and counted, and other requests pass.
func TestRefusedHeaderMap(t *testing.T) {
	defer filter.RefuseRequestHeaderMap()()
	e := startFilter(t, filter.NewVMContext(), `{"shared":{"maxTokens":100,"refillPeriod":"1h"},"paths":["/mcp"]}`)
	expectReply(t, e.send(request{body: toolsCall("1", "t")}), "POST under the paths", 415, `"code":-32600`, msgMalformed)
	if got := e.counter(metricName("requests.unsupported_encoding")); got != 1 {
		t.Errorf("unsupported_encoding = %d, want 1", got)
	}
	expectForwarded(t, e.send(request{path: "/other", body: toolsCall("2", "t")}), "POST outside the paths")
	expectForwarded(t, e.send(request{method: "PUT", body: toolsCall("3", "t")}), "PUT under the paths")
	expectForwarded(t, e.send(request{method: "GET"}), "GET under the paths")
}
