package wasmtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/wasmbuild"
)

// TestBuildMakesForwardJumpsDirect checks that the build leaves no forward
// jump going through Go's dispatch loop, in the probe and in the shipped
// module, and that -dispatch-jumps (Target.DispatchJumps) leaves them all
// (filter/wasmbuild/README.md, "Direct forward jumps"). The probe's and
// the module's behaviour tests run on the direct jumps.
func TestBuildMakesForwardJumpsDirect(t *testing.T) {
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
			n, err := wasmbuild.DispatchedForwardJumps(tc.module)
			if err != nil {
				t.Fatal(err)
			}
			if tc.direct && n != 0 {
				t.Errorf("%d forward jumps go through the dispatch loop, want none", n)
			}
			if !tc.direct && n < 1000 {
				t.Errorf("%d forward jumps go through the dispatch loop, want thousands", n)
			}
		})
	}
}
