package wasmtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/wasmbuild"
)

// TestBuildMakesJumpsDirect checks that the build leaves no forward jump
// and no function's entry going through Go's dispatch loop, in the probe
// and in the shipped module, and that -dispatch-jumps
// (Target.DispatchJumps) leaves them all (filter/wasmbuild/README.md,
// "Direct jumps"). The probe's and
// the module's behaviour tests run on the direct jumps.
func TestBuildMakesJumpsDirect(t *testing.T) {
	artifact, err := os.ReadFile(ModulePath(t))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := probeWorkspace()
	if err != nil {
		t.Fatal(err)
	}
	// Each build writes over the one before: the go command leaves an
	// output it finds up to date as it is.
	out := filepath.Join(t.TempDir(), "probe.wasm")
	build := func(dispatchJumps bool) []byte {
		t.Helper()
		if err := ws.Build(context.Background(), wasmbuild.Target{
			Package:       "./filter/wasmtest/testdata/probe",
			Output:        out,
			DispatchJumps: dispatchJumps,
		}); err != nil {
			t.Fatal(err)
		}
		module, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return module
	}
	tests := []struct {
		name   string
		module []byte
		direct bool
	}{
		{ModuleFile, artifact, true},
		{"the probe", build(false), true},
		{"the probe built again with DispatchJumps", build(true), false},
		{"the probe built again without", build(false), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forward, entries, err := wasmbuild.DispatchedJumps(tc.module)
			if err != nil {
				t.Fatal(err)
			}
			if tc.direct && (forward != 0 || entries != 0) {
				t.Errorf("%d forward jumps and %d entries go through the dispatch loop, want none", forward, entries)
			}
			if !tc.direct && (forward < 1000 || entries < 1000) {
				t.Errorf("%d forward jumps and %d entries go through the dispatch loop, want thousands", forward, entries)
			}
		})
	}
}
