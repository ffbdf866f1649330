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
	// Per-user tables, Redis mode and 1 MiB bodies allocate.
	for _, w := range oneBucketWorkloads() {
		t.Run(w.name, func(t *testing.T) {
			const requests = 50
			if n := countAllocations(t, code, w, 3, requests); n != 0 {
				t.Errorf("%d allocations in %d requests, want none", n, requests)
			}
		})
	}
}

// TestKnownUsersAllocateOnlyTheirIdentity counts the allocations of the
// compiled filter on BenchmarkVsNoop's four-bucket workload, 1 000 users
// in turn, once every user has taken a call: one per request, the
// copy of the user's identity out of the host's header memory (the
// bucket package's caches keep it). A user's place in the per-user
// tables and the key of the slot it owns are kept from its earlier calls.
func TestKnownUsersAllocateOnlyTheirIdentity(t *testing.T) {
	code := readArtifact(t, shippedWasm, "build")
	w := ratioWorkloadNamed(t, "call-4-buckets-1000-users")
	// The first round claims the users' slots, the second finds them
	// there and keeps their keys, the third is counted.
	const users = 1000
	if n := countAllocations(t, code, w, 2*users, users); n > users {
		t.Errorf("%d allocations in %d requests of known users, want at most one each", n, users)
	}
}

// TestRedisModeAllocatesOnlyForTheCallout counts the allocations of the
// compiled filter in Redis mode (BenchmarkVsNoop's call-redis, webdis
// answering at once): five a request, those of the SDK's
// proxywasm.DispatchHttpCall (four: its two serialised header maps, the
// callback's record and its map entry) and the entries bucket.DecideRemote
// decides in. The limiter's take and the webdis callout keep their memory
// and callbacks from one request to the next, and webdis's reply is read
// into memory the VM keeps.
func TestRedisModeAllocatesOnlyForTheCallout(t *testing.T) {
	code := readArtifact(t, shippedWasm, "build")
	w := ratioWorkloadNamed(t, "call-redis")
	const requests, each = 100, 5
	if n := countAllocations(t, code, w, 3, requests); n > requests*each {
		t.Errorf("%d allocations in %d requests, want at most %d each", n, requests, each)
	}
}

// ratioWorkloadNamed returns the workload of ratioWorkloads called name.
func ratioWorkloadNamed(t *testing.T, name string) ratioWorkload {
	t.Helper()
	for _, w := range ratioWorkloads() {
		if w.name == name {
			return w
		}
	}
	t.Fatalf("no workload %q", name)
	return ratioWorkload{}
}

// countAllocations sends warmUp and then requests requests of w to a VM
// of code, checking each status, and returns the allocations of the
// last requests.
func countAllocations(t *testing.T, code []byte, w ratioWorkload, warmUp, requests int) int64 {
	t.Helper()
	counter := moduleCounter("filter")
	ctx := experimental.WithFunctionListenerFactory(context.Background(), counter)
	d := newDirect(t, code, directOptions{version: "1.33", plugin: w.plugin, compileCtx: ctx, webdis: w.webdis})
	for i := 0; i < warmUp+requests; i++ {
		if i == warmUp {
			counter.reset()
		}
		headers, body, status := w.request(i)
		if r := d.do(headers, body, 0, 2<<20); r.status != status {
			t.Fatalf("request %d: status %d, want %d (VM: %v)", i, r.status, status, d.vm.Failed())
		}
	}
	n, ok := counter.counts["runtime.mallocgc"]
	if !ok {
		t.Fatal("runtime.mallocgc is not counted (is the listener attached?)")
	}
	return *n
}
