package host

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/experimental"
)

// TestHostFloorMatchesFilter holds the benchmarks' host-call floor
// (filter/internal/hostfloor) to what it stands for: on each workload it
// runs in BenchmarkHostFloorVsNoop, it makes the filter's host calls, as
// many of each per request, and answers each request as the filter does
// (status, headers, body). When the filter's host calls change, this
// test fails until the floor makes the same ones.
func TestHostFloorMatchesFilter(t *testing.T) {
	modules := []struct {
		name    string
		code    []byte
		counter *callCounter
	}{
		{"filter", readArtifact(t, shippedWasm, "build"), moduleCounter("filter")},
		{"floor", readArtifact(t, hostFloorWasm, "test"), moduleCounter("floor")},
	}
	for _, w := range oneBucketWorkloads() {
		t.Run(w.name, func(t *testing.T) {
			var calls [2]map[string]int64
			var replies [2][]string
			for m, module := range modules {
				// One counter per module for every workload: wazero keeps
				// a compiled module with its first listeners.
				ctx := experimental.WithFunctionListenerFactory(context.Background(), module.counter)
				d := newDirect(t, module.code, directOptions{version: "1.33", plugin: w.plugin, compileCtx: ctx})
				const requests = 3
				for i := 0; i <= requests; i++ {
					if i == 1 {
						// Request 0 warms the module up (and is the
						// rejected workload's one admission).
						module.counter.reset()
					}
					headers, body, status := w.request(i)
					r := d.do(headers, body, 0, 2<<20)
					if r.status != status {
						t.Fatalf("%s, request %d: status %d, want %d: %.200s (VM: %v)", module.name, i, r.status, status, r.body, d.vm.Failed())
					}
					replies[m] = append(replies[m], describeResponse(r))
				}
				calls[m] = map[string]int64{}
				for name, n := range module.counter.counts {
					if kind, _, _ := strings.Cut(name, "."); isHostModule(kind) && *n > 0 {
						calls[m][name] = *n
					}
				}
				if len(calls[m]) == 0 {
					t.Fatalf("%s made no host call (is the listener attached?)", module.name)
				}
			}
			if !maps.Equal(calls[0], calls[1]) {
				t.Errorf("host calls of requests 1 to 3 differ:\n filter %v\n floor  %v", sorted(calls[0]), sorted(calls[1]))
			}
			if !slices.Equal(replies[0], replies[1]) {
				t.Errorf("replies differ:\n filter %q\n floor  %q", replies[0], replies[1])
			}
		})
	}
}

// describeResponse is a response's status, headers and body as text.
func describeResponse(r response) string {
	var b bytes.Buffer
	for _, h := range r.headers.Pairs() {
		b.WriteString(h[0] + ": " + h[1] + "\n")
	}
	b.WriteString("\n")
	b.Write(r.body)
	return b.String()
}

// sorted lists m's entries in name order.
func sorted(m map[string]int64) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, name+"="+strconv.FormatInt(m[name], 10))
	}
	return out
}
