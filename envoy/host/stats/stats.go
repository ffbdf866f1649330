// Package stats is the local host's stats store for the metrics a
// proxy-wasm module defines, named and rendered as Envoy names and renders
// them.
//
// As in Envoy (source/extensions/common/wasm/context.cc defineMetric), a
// stat is process-wide: every worker VM that defines the same name gets the
// same counter, gauge or histogram. Custom metrics live under the
// "wasmcustom." namespace, which /stats strips, and which the Prometheus
// output exposes without Envoy's "envoy_" prefix, with every character
// outside [a-zA-Z0-9_] replaced by "_" (source/server/admin/prometheus_stats.cc
// PrometheusStatsFormatter::metricName and sanitizeName).
package stats

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// CustomNamespace is the prefix Envoy gives custom Wasm stats internally.
const CustomNamespace = "wasmcustom."

// Kind is a proxy-wasm metric type.
type Kind uint32

// Metric types (proxy-wasm ABI MetricType).
const (
	Counter   Kind = 0
	Gauge     Kind = 1
	Histogram Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// DefaultBuckets are Envoy's default histogram bucket bounds
// (source/common/stats/histogram_impl.cc supportedBuckets).
var DefaultBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// Stat is one named metric.
type Stat struct {
	name string // without the custom namespace
	kind Kind

	mu      sync.Mutex
	value   uint64   // counter, gauge
	count   uint64   // histogram
	sum     float64  // histogram
	buckets []uint64 // histogram, cumulative counts per DefaultBuckets
}

// Name is the stat's name as /stats shows it.
func (s *Stat) Name() string { return s.name }

// Kind is the stat's type.
func (s *Stat) Kind() Kind { return s.kind }

// Add adds delta to a counter or gauge (a gauge may go down).
func (s *Stat) Add(delta int64) {
	s.mu.Lock()
	s.value = uint64(int64(s.value) + delta)
	s.mu.Unlock()
}

// Set sets a gauge.
func (s *Stat) Set(v uint64) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

// Record adds a sample to a histogram.
func (s *Stat) Record(v uint64) {
	s.mu.Lock()
	s.count++
	s.sum += float64(v)
	for i, b := range DefaultBuckets {
		if float64(v) <= b {
			s.buckets[i]++
		}
	}
	s.mu.Unlock()
}

// Value returns a counter's or gauge's value, or a histogram's sample
// count.
func (s *Stat) Value() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kind == Histogram {
		return s.count
	}
	return s.value
}

// Store holds the stats of one host.
type Store struct {
	mu    sync.Mutex
	stats map[string]*Stat
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{stats: map[string]*Stat{}} }

// KindMismatchError is returned when a name is defined again with another
// type.
type KindMismatchError struct {
	Name       string
	Have, Want Kind
}

func (e *KindMismatchError) Error() string {
	return fmt.Sprintf("stats: %q is a %s, cannot define it as a %s", e.Name, e.Have, e.Want)
}

// Define returns the stat of that name, creating it with the given kind.
func (s *Store) Define(name string, kind Kind) (*Stat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stats[name]; ok {
		if st.kind != kind {
			return nil, &KindMismatchError{Name: name, Have: st.kind, Want: kind}
		}
		return st, nil
	}
	st := &Stat{name: name, kind: kind}
	if kind == Histogram {
		st.buckets = make([]uint64, len(DefaultBuckets))
	}
	s.stats[name] = st
	return st, nil
}

func (s *Store) sorted() []*Stat {
	s.mu.Lock()
	out := make([]*Stat, 0, len(s.stats))
	for _, st := range s.stats {
		out = append(out, st)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Snapshot returns name -> value (a histogram gives name.count and
// name.sum).
func (s *Store) Snapshot() map[string]uint64 {
	out := map[string]uint64{}
	for _, st := range s.sorted() {
		st.mu.Lock()
		if st.kind == Histogram {
			out[st.name+".count"] = st.count
			out[st.name+".sum"] = uint64(st.sum)
		} else {
			out[st.name] = st.value
		}
		st.mu.Unlock()
	}
	return out
}

// WriteText writes the stats as Envoy's admin /stats does: "name: value"
// lines sorted by name (histograms as a summary of count and sum).
func (s *Store) WriteText(w io.Writer) error {
	for _, st := range s.sorted() {
		st.mu.Lock()
		var line string
		if st.kind == Histogram {
			line = fmt.Sprintf("%s: count=%d sum=%s\n", st.name, st.count, formatFloat(st.sum))
		} else {
			line = fmt.Sprintf("%s: %d\n", st.name, st.value)
		}
		st.mu.Unlock()
		if _, err := io.WriteString(w, line); err != nil {
			return fmt.Errorf("stats: write: %w", err)
		}
	}
	return nil
}

var invalidPromChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// PrometheusName is the name Envoy's /stats/prometheus gives a custom Wasm
// metric; ok is false when Envoy omits the metric (its sanitized name is
// empty or starts with a digit).
func PrometheusName(name string) (string, bool) {
	n := invalidPromChars.ReplaceAllString(name, "_")
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		return "", false
	}
	return n, true
}

// WritePrometheus writes the stats in Prometheus text format as Envoy's
// /stats/prometheus does for custom Wasm metrics.
func (s *Store) WritePrometheus(w io.Writer) error {
	var b strings.Builder
	for _, st := range s.sorted() {
		name, ok := PrometheusName(st.name)
		if !ok {
			continue
		}
		st.mu.Lock()
		switch st.kind {
		case Counter, Gauge:
			fmt.Fprintf(&b, "# TYPE %s %s\n%s{} %d\n", name, st.kind, name, st.value)
		case Histogram:
			fmt.Fprintf(&b, "# TYPE %s histogram\n", name)
			for i, bound := range DefaultBuckets {
				fmt.Fprintf(&b, "%s_bucket{le=\"%s\"} %d\n", name, formatFloat(bound), st.buckets[i])
			}
			fmt.Fprintf(&b, "%s_bucket{le=\"+Inf\"} %d\n", name, st.count)
			fmt.Fprintf(&b, "%s_sum{} %s\n%s_count{} %d\n", name, formatFloat(st.sum), name, st.count)
		}
		st.mu.Unlock()
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("stats: write: %w", err)
	}
	return nil
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%g", f)
}
