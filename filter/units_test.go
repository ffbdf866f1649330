package filter_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

func TestNormalizePath(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/mcp", "/mcp"},
		{"/mcp/", "/mcp"},
		{"/mcp?x=/a", "/mcp"},
		{"/mcp#frag", "/mcp"},
		{"//mcp//x", "/mcp/x"},
		{"/a/./b/../mcp", "/a/mcp"},
		{"/../../mcp", "/mcp"},
		{"/MCP/Tools", "/mcp/tools"},
		{"/%4D%43%50", "/mcp"},
		{"/mcp%2fx", "/mcp/x"},
		{"/mcp%252Fx", "/mcp/x"},
		{"/%2e%2e/mcp", "/mcp"},
		{"/mcp%zz", "/mcp%zz"},
		{"/mcp%", "/mcp%"},
		{"/mcp%4", "/mcp%4"},
		{`\mcp\x`, "/mcp/x"},
		{"/mcp;a=b/x;c", "/mcp/x"},
		{"/..;/mcp", "/mcp"},
		{"HTTP://Host:8080/mcp?q", "/mcp"},
		{"https://host", "/"},
		{"mcp", "/mcp"},
		{"/Ünïcode", "/Ünïcode"},
	}
	for _, c := range cases {
		if got := filter.NormalizePath(c.in); got != c.want {
			t.Errorf("NormalizePath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPathMatches(t *testing.T) {
	cases := []struct {
		prefixes []string
		target   string
		want     bool
	}{
		{nil, "/anything", true},
		{[]string{"/mcp"}, "/mcp", true},
		{[]string{"/mcp"}, "/mcp/sub", true},
		{[]string{"/mcp"}, "/mcpx", false},
		{[]string{"/mcp/"}, "/mcp", true},
		{[]string{"/MCP"}, "/mcp", true},
		{[]string{"/"}, "/x", true},
		{[]string{"/a", "/b/c"}, "/b/c/d", true},
		{[]string{"/a", "/b/c"}, "/b", false},
		{[]string{"/api/v1/mcp"}, "/api//v1/./mcp/", true},
	}
	for _, c := range cases {
		if got := filter.PathMatches(c.prefixes, c.target); got != c.want {
			t.Errorf("PathMatches(%q, %q) = %t, want %t", c.prefixes, c.target, got, c.want)
		}
	}
}

func TestHostOfAddress(t *testing.T) {
	cases := []struct{ in, want string }{
		{"10.0.0.1:5000", "10.0.0.1"},
		{"10.0.0.1", "10.0.0.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[2001:0DB8:0:0::1]:443", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::1%eth0"},
		{"/var/run/envoy.sock", "/var/run/envoy.sock"},
		{"[broken", "[broken"},
		{"", ""},
	}
	for _, c := range cases {
		if got := filter.HostOfAddress(c.in); got != c.want {
			t.Errorf("HostOfAddress(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDecodeMcpHeaderValue(t *testing.T) {
	cases := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"tools/call", "tools/call", true},
		{"", "", true},
		{"=?base64?c2VhcmNo?=", "search", true},
		{"=?base64?Y2Fmw6k=?=", "café", true},
		{"=?base64??=", "", true}, // the sentinel form of the empty string
		{"=?base64?%%%?=", "", false},
		{"=?base64?c2VhcmNo?= ", "=?base64?c2VhcmNo?= ", true},
		{"=?base64?//79?=", "", false}, // valid Base64, invalid UTF-8
		{"=?base64?c2VhcmNo=?=", "", false},
		{"=?BASE64?c2VhcmNo?=", "=?BASE64?c2VhcmNo?=", true},
	}
	for _, c := range cases {
		got, ok := filter.DecodeMcpHeaderValue(c.in)
		if got != c.want || ok != c.wantOK {
			t.Errorf("DecodeMcpHeaderValue(%q) = %q, %t; want %q, %t", c.in, got, ok, c.want, c.wantOK)
		}
	}
}

func TestRateLimitHeaderFields(t *testing.T) {
	status := func(kind bucket.Kind, maxTokens int64, period time.Duration, remaining int64, reset time.Duration) bucket.Status {
		return bucket.Status{Bucket: bucket.Bucket{Kind: kind, Tool: "t", User: "u",
			Limit: bucket.Limit{MaxTokens: maxTokens, RefillPeriod: period}}, Remaining: remaining, ResetAfter: reset}
	}
	cases := []struct {
		name   string
		status bucket.Status
		wait   int64
		want   [][2]string
	}{
		{"admitted", status(bucket.KindShared, 100, time.Minute, 99, 600*time.Millisecond), 0,
			[][2]string{{"ratelimit-policy", `"shared";q=100;w=60`}, {"ratelimit", `"shared";r=99;t=1`}}},
		{"rejected", status(bucket.KindUserTool, 2, 90*time.Second, 0, 90*time.Second), 45,
			[][2]string{{"ratelimit-policy", `"user-tool";q=2;w=90`}, {"ratelimit", `"user-tool";r=0;t=45`}}},
		{"sub-second window", status(bucket.KindTool, 5, 200*time.Millisecond, 3, 0), 0,
			[][2]string{{"ratelimit-policy", `"tool";q=5;w=1`}, {"ratelimit", `"tool";r=3;t=0`}}},
		{"user", status(bucket.KindUser, 1, time.Hour, -1, time.Hour), 0,
			[][2]string{{"ratelimit-policy", `"user";q=1;w=3600`}, {"ratelimit", `"user";r=0;t=3600`}}},
	}
	for _, c := range cases {
		if got := filter.RateLimitHeaderFields(c.status, c.wait); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	cases := []struct {
		wait time.Duration
		want int64
	}{
		{0, 1}, {-time.Second, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2},
		{59*time.Second + 999*time.Millisecond, 60}, {time.Duration(1<<63 - 1), 9223372037},
	}
	for _, c := range cases {
		if got := filter.RetryAfterSeconds(c.wait); got != c.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", c.wait, got, c.want)
		}
	}
}

func TestMetricSegments(t *testing.T) {
	cases := []struct{ in, want string }{
		{"search", "search"}, {"web.search", "web_search"}, {"", "_"}, {"a b/c", "a_b_c"}, {"ünï", "__n__"},
		{"Get-Item_2", "Get-Item_2"},
	}
	for _, c := range cases {
		if got := filter.MetricSegment(c.in); got != c.want {
			t.Errorf("MetricSegment(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	got := filter.ToolMetricSegments([]string{"a.b", "a_b", "c", "a b"})
	want := []string{"a_b", "a_b_1", "c", "a_b_3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ToolMetricSegments = %q, want %q (distinct)", got, want)
	}
}

// TestMetricsDocumented checks that docs/metrics.md lists every counter
// the filter defines.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatalf("read docs/metrics.md: %v", err)
	}
	pluginWide, perTool := filter.MetricNames()
	for _, name := range pluginWide {
		if !strings.Contains(string(doc), "`mcp_ratelimit.<namespace>."+name+"`") {
			t.Errorf("docs/metrics.md does not document mcp_ratelimit.<namespace>.%s", name)
		}
	}
	for _, suffix := range perTool {
		for _, family := range []string{"tool.<tool>", "method.<method>", "prompt.<prompt>", "resource.<resource>"} {
			if !strings.Contains(string(doc), "`mcp_ratelimit.<namespace>."+family+suffix+"`") {
				t.Errorf("docs/metrics.md does not document mcp_ratelimit.<namespace>.%s%s", family, suffix)
			}
		}
	}
}
