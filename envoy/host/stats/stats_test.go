package stats

import (
	"errors"
	"strings"
	"testing"
)

func TestPrometheusName(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"mcp_ratelimit.tools_call.admitted", "mcp_ratelimit_tools_call_admitted", true},
		{"mcp_ratelimit.my-plugin.tool.search.rejected", "mcp_ratelimit_my_plugin_tool_search_rejected", true},
		{"9lives", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := PrometheusName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("PrometheusName(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStoreSharesStatsByName(t *testing.T) {
	s := NewStore()
	a, err := s.Define("x.count", Counter)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Define("x.count", Counter)
	a.Add(2)
	b.Add(3)
	if a.Value() != 5 || s.Snapshot()["x.count"] != 5 {
		t.Fatalf("shared counter = %d, snapshot %v", a.Value(), s.Snapshot())
	}
	var mismatch *KindMismatchError
	if _, err := s.Define("x.count", Gauge); !errors.As(err, &mismatch) {
		t.Fatalf("redefining as a gauge: %v", err)
	}
}

func TestWritePrometheusAndText(t *testing.T) {
	s := NewStore()
	c, _ := s.Define("a.count", Counter)
	c.Add(4)
	g, _ := s.Define("a.level", Gauge)
	g.Set(9)
	g.Add(-2)
	h, _ := s.Define("a.latency", Histogram)
	h.Record(3)
	h.Record(700)
	var prom strings.Builder
	if err := s.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# TYPE a_count counter\na_count{} 4\n",
		"# TYPE a_level gauge\na_level{} 7\n",
		"# TYPE a_latency histogram\n",
		`a_latency_bucket{le="5"} 1`,
		`a_latency_bucket{le="1000"} 2`,
		`a_latency_bucket{le="+Inf"} 2`,
		"a_latency_sum{} 703\na_latency_count{} 2\n",
	} {
		if !strings.Contains(prom.String(), want) {
			t.Errorf("prometheus output lacks %q:\n%s", want, prom.String())
		}
	}
	var text strings.Builder
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "a.count: 4\n") || !strings.Contains(text.String(), "a.latency: count=2 sum=703\n") {
		t.Errorf("text output:\n%s", text.String())
	}
	snap := s.Snapshot()
	if snap["a.latency.count"] != 2 || snap["a.latency.sum"] != 703 || snap["a.level"] != 7 {
		t.Errorf("snapshot = %v", snap)
	}
}
