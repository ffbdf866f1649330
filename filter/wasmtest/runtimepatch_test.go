package wasmtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/wasmbuild"
)

// churnInAllocate makes the host allocate n MiB through
// proxy_on_memory_allocate, 1 MiB at a time, as Envoy does for large bodies.
// Nothing keeps the blocks, so GCs start inside proxy_on_memory_allocate.
// It returns the first error.
func churnInAllocate(h *recordHost, mib int) error {
	for i := 0; i < mib; i++ {
		h.inMalloc = true
		_, err := h.call("proxy_on_memory_allocate", 1<<20)
		h.inMalloc = false
		if err != nil {
			return err
		}
	}
	return nil
}

// TestRuntimePatch runs the probe, built with the patched and with the
// stock Go runtime, under hosts that answer poll_oneoff like Envoy does,
// with a real file as stdout so the runtime's poller starts in _initialize
// (as Go's os package makes it do when stdout is pollable).
// The stock runtime's failures are what the patch is for; they also show
// that each scenario reaches the code the patch changes.
func TestRuntimePatch(t *testing.T) {
	tests := []struct {
		name  string
		stock bool
		// envoy is the Envoy version whose WASI answers the host gives;
		// pollWorks overrides its poll_oneoff answer with success (zero
		// events).
		envoy     string
		pollWorks bool
		// commands run in proxy_on_request_headers, then churnMiB MiB are
		// allocated through proxy_on_memory_allocate.
		commands []string
		churnMiB int
		// wantTrap is a substring of the trap or module output, or "" for
		// no trap.
		wantTrap string
		// Bounds on poll_oneoff calls, in total and inside
		// proxy_on_memory_allocate (max -1: no bound).
		minPolls, minPollsInAlloc, maxPollsInAlloc int
	}{
		{
			// Sleeps (all but the first, in practice) poll with a timeout
			// and get ENOSYS (patch 2); GCs, also those inside allocate,
			// do not poll (patch 1).
			name: "patched, Envoy 1.33: sleeps, GCs, GCs inside allocate", envoy: "1.33",
			commands: []string{"sleep", "sleep", "gc", "churn", "sleep"}, churnMiB: 48, minPolls: 1, maxPollsInAlloc: 0,
		},
		{
			name: "stock, Envoy 1.33: a GC throws", stock: true, envoy: "1.33",
			commands: []string{"gc"}, wantTrap: "poll_oneoff failed", minPolls: 1, maxPollsInAlloc: -1,
		},
		{
			name: "stock, Envoy 1.33: a sleep throws", stock: true, envoy: "1.33",
			commands: []string{"sleep", "sleep"}, wantTrap: "poll_oneoff failed", minPolls: 1, maxPollsInAlloc: -1,
		},
		{
			name: "patched, Envoy 1.39: no poll inside allocate", envoy: "1.39",
			churnMiB: 48, maxPollsInAlloc: 0,
		},
		{
			name: "stock, Envoy 1.39: GCs inside allocate poll", stock: true, envoy: "1.39",
			churnMiB: 48, minPollsInAlloc: 1, maxPollsInAlloc: -1,
		},
		{
			name: "stock, Envoy 1.33 had poll_oneoff worked: a GC inside allocate traps", stock: true,
			envoy: "1.33", pollWorks: true, churnMiB: 48,
			wantTrap: "poll_oneoff inside proxy_on_memory_allocate", minPollsInAlloc: 1, maxPollsInAlloc: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newRecordHost(t)
			h.envoy = envoyProfile(t, tc.envoy)
			h.envoy.PollOneoffENOSYS = !tc.pollWorks && h.envoy.PollOneoffENOSYS
			h.stdoutFile = true // the runtime's poller starts in _initialize
			h.start(probeModule(t, tc.stock))
			h.mustCall("proxy_on_vm_start", 0, 0)
			h.mustCall("proxy_on_context_create", rootID, 0)
			h.mustCall("proxy_on_configure", rootID, 0)
			var trap error
			for i, command := range tc.commands {
				id := uint64(httpID + i)
				h.mustCall("proxy_on_context_create", id, rootID)
				h.command = command
				if _, trap = h.call("proxy_on_request_headers", id, 1, 1); trap != nil {
					break
				}
				if !slicesContainsPrefix(h.probeLogs(), "probe did "+command) {
					t.Fatalf("command %s did not finish: %v", command, h.probeLogs())
				}
				if command == "sleep" && !slicesContainsPrefix(h.probeLogs(), "probe did sleep true") {
					t.Errorf("time.Sleep(2ms) returned early: %v", h.probeLogs())
				}
			}
			if trap == nil {
				trap = churnInAllocate(h, tc.churnMiB)
			}
			switch {
			case tc.wantTrap == "" && trap != nil:
				t.Fatalf("the module trapped: %v\n%s", trap, h.output())
			case tc.wantTrap != "" && trap == nil:
				t.Fatalf("the module survived; want a trap with %q", tc.wantTrap)
			case tc.wantTrap != "" && !strings.Contains(trap.Error()+h.output(), tc.wantTrap):
				t.Fatalf("the module trapped with %v\n%s\nwant %q", trap, h.output(), tc.wantTrap)
			}
			if tc.maxPollsInAlloc >= 0 && h.pollCallsInAlloc > tc.maxPollsInAlloc {
				t.Errorf("%d poll_oneoff calls inside proxy_on_memory_allocate, want at most %d", h.pollCallsInAlloc, tc.maxPollsInAlloc)
			}
			if h.pollCalls < tc.minPolls {
				t.Errorf("%d poll_oneoff calls, want at least %d (the scenario does not reach the patched code)",
					h.pollCalls, tc.minPolls)
			}
			if h.pollCallsInAlloc < tc.minPollsInAlloc {
				t.Errorf("%d poll_oneoff calls inside proxy_on_memory_allocate, want at least %d (the scenario does not reach the patched code)",
					h.pollCallsInAlloc, tc.minPollsInAlloc)
			}
			t.Logf("poll_oneoff calls: %d, inside proxy_on_memory_allocate: %d, allocations: %d",
				h.pollCalls, h.pollCallsInAlloc, h.mallocs)
		})
	}
}

func slicesContainsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// TestArtifactRuntimeIsPatched runs build/mcp-ratelimit.wasm under the
// Envoy 1.33-1.38 profile (poll_oneoff: ENOSYS, and a trap inside
// proxy_on_memory_allocate) with a real file as stdout, which makes Go's
// runtime start its poller during _initialize, and makes GCs start inside
// proxy_on_memory_allocate. The same code built with the stock runtime
// traps at its first such GC; the shipped module must not.
func TestArtifactRuntimeIsPatched(t *testing.T) {
	shipped, err := os.ReadFile(ModulePath(t))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := probeWorkspace()
	if err != nil {
		t.Fatalf("preparing the build workspace: %v", err)
	}
	stockPath := filepath.Join(probe.work, "mcp-ratelimit-stock.wasm")
	if err := ws.Build(context.Background(), wasmbuild.Target{Package: ".", Output: stockPath, StockRuntime: true}); err != nil {
		t.Fatalf("building the filter with the stock runtime: %v", err)
	}
	stock, err := os.ReadFile(stockPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		wasm     []byte
		wantTrap bool
	}{
		{"shipped " + ModuleFile, shipped, false},
		{"the same code with the stock runtime", stock, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newRecordHost(t)
			h.envoy = envoyProfile(t, "1.33")
			h.stdoutFile = true
			h.start(tc.wasm)
			trap := churnInAllocate(h, 64)
			if got := trap != nil; got != tc.wantTrap {
				t.Fatalf("trapped = %t (%v), want %t\n%s", got, trap, tc.wantTrap, h.output())
			}
			if tc.wantTrap && !strings.Contains(trap.Error(), "poll_oneoff inside proxy_on_memory_allocate") {
				t.Fatalf("trapped for another reason: %v\n%s", trap, h.output())
			}
			t.Logf("poll_oneoff calls: %d, inside proxy_on_memory_allocate: %d", h.pollCalls, h.pollCallsInAlloc)
		})
	}
}
