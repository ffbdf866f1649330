package filter_test

import (
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

// TestConcurrencyLeaseExpiresWithoutTicks: a stream whose end the filter
// never sees (its VM went away) frees its place when its lease expires,
// 30s after the last renewal; the plugin's tick renews the leases of
// streams in flight.
func TestConcurrencyLeaseExpiresWithoutTicks(t *testing.T) {
	store := newMemoryStore()
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	const cfg = `{"concurrency":{"shared":1}}`
	// The first VM admits a call and is never heard of again.
	lost := startFilter(t, filter.NewVMContextWith(filter.TestDeps{Now: clock.Now, Store: store}), cfg)
	expectForwarded(t, lost.send(request{body: toolsCall("1", "echo")}), "call on the lost VM")
	e := startFilter(t, filter.NewVMContextWith(filter.TestDeps{Now: clock.Now, Store: store}), cfg)
	clock.now = clock.now.Add(29 * time.Second)
	expectReply(t, e.send(request{body: toolsCall("2", "echo")}), "29s later", 429, "Too many concurrent calls")
	clock.now = clock.now.Add(time.Second)
	held := e.send(request{body: toolsCall("3", "echo")})
	expectForwarded(t, held, "30s later: the lost call's lease expired")
	// This VM's ticks keep its own call's lease alive.
	for range 5 {
		clock.now = clock.now.Add(10 * time.Second)
		e.host.Tick()
	}
	expectReply(t, e.send(request{body: toolsCall("4", "echo")}), "50s into a renewed call", 429, "Too many concurrent calls")
	e.respond(held)
	expectForwarded(t, e.send(request{body: toolsCall("5", "echo")}), "after the call ended")
}
