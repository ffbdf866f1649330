package host

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero/experimental"
)

// TestRequestPathAllocatesNothing counts the heap allocations
// (runtime.mallocgc calls) of the compiled filter on the one-bucket
// workloads of BenchmarkVsNoop: after the first requests, none of them
// allocates. In a Wasm VM an allocation costs about as much as fifty Go
// calls and brings the next collection nearer, so a change that makes
// the request path allocate again fails here, whatever its time.
func TestRequestPathAllocatesNothing(t *testing.T) {
	code := readArtifact(t, shippedWasm, "build")
	counter := moduleCounter("filter")
	ctx := experimental.WithFunctionListenerFactory(context.Background(), counter)
	// Per-user tables, Redis mode and 1 MiB bodies allocate.
	for _, w := range oneBucketWorkloads() {
		t.Run(w.name, func(t *testing.T) {
			d := newDirect(t, code, directOptions{version: "1.33", plugin: w.plugin, compileCtx: ctx})
			const warmUp, requests = 3, 50
			for i := 0; i < warmUp+requests; i++ {
				if i == warmUp {
					counter.reset()
				}
				headers, body, status := w.request(i)
				if r := d.do(headers, body, 0, 2<<20); r.status != status {
					t.Fatalf("request %d: status %d, want %d (VM: %v)", i, r.status, status, d.vm.Failed())
				}
			}
			if n, ok := counter.counts["runtime.mallocgc"]; !ok {
				t.Fatal("runtime.mallocgc is not counted (is the listener attached?)")
			} else if *n != 0 {
				t.Errorf("%d allocations in %d requests, want none", *n, requests)
			}
		})
	}
}
