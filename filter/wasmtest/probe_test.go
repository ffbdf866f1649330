package wasmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/wasmbuild"
)

// The probe plugin (testdata/probe) is built once per test binary, with the
// same wasmbuild code and glue as `make build`, into a temporary workspace.
var probe struct {
	once  [2]sync.Once
	wasm  [2][]byte
	err   [2]error
	mu    sync.Mutex
	work  string
	ws    *wasmbuild.Workspace
	wsErr error
}

// TestMain removes the probe's temporary workspace after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if probe.work != "" {
		_ = os.RemoveAll(probe.work)
	}
	os.Exit(code)
}

// probeWorkspace prepares the temporary build workspace once.
func probeWorkspace() (*wasmbuild.Workspace, error) {
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if probe.ws != nil || probe.wsErr != nil {
		return probe.ws, probe.wsErr
	}
	probe.ws, probe.wsErr = func() (*wasmbuild.Workspace, error) {
		if _, err := exec.LookPath("go"); err != nil {
			return nil, fmt.Errorf("the go command is not on PATH: %w", err)
		}
		root, err := RepoRoot()
		if err != nil {
			return nil, err
		}
		if probe.work, err = os.MkdirTemp("", "wasmtest-probe-"); err != nil {
			return nil, err
		}
		// WASMTEST_GLUE_DIR builds the probe with other glue, to check
		// that these tests catch a broken glue.
		return wasmbuild.Prepare(context.Background(), wasmbuild.Config{
			RepoRoot: root, WorkDir: probe.work, GlueDir: os.Getenv("WASMTEST_GLUE_DIR")})
	}()
	return probe.ws, probe.wsErr
}

// probeModule returns the probe module built with the patched runtime, or
// with the stock one when stock is true. It fails the test if the build
// fails.
func probeModule(t testing.TB, stock bool) []byte {
	t.Helper()
	i := 0
	if stock {
		i = 1
	}
	probe.once[i].Do(func() {
		ws, err := probeWorkspace()
		if err != nil {
			probe.err[i] = err
			return
		}
		out := filepath.Join(probe.work, fmt.Sprintf("probe-%d.wasm", i))
		err = ws.Build(context.Background(), wasmbuild.Target{
			Package:      "./filter/wasmtest/testdata/probe",
			Output:       out,
			StockRuntime: stock,
		})
		if err != nil {
			probe.err[i] = err
			return
		}
		probe.wasm[i], probe.err[i] = os.ReadFile(out)
	})
	if probe.err[i] != nil {
		t.Fatalf("building the probe plugin: %v", probe.err[i])
	}
	return probe.wasm[i]
}

// TestBuildIsReproducible builds the probe again in another workspace, in
// another folder, and expects the same bytes: paths are trimmed and no
// build-specific data is stamped in. (The go command may serve the second
// build from its cache; it can only do so because no input of the build
// depends on the folders, which is the point.)
func TestBuildIsReproducible(t *testing.T) {
	first := probeModule(t, false)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(t.TempDir(), "elsewhere", "work")
	ws, err := wasmbuild.Prepare(context.Background(), wasmbuild.Config{RepoRoot: root, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "again.wasm")
	if err := ws.Build(context.Background(), wasmbuild.Target{Package: "./filter/wasmtest/testdata/probe", Output: out}); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Errorf("two builds of the same code differ (%d and %d bytes)", len(first), len(again))
	}
}
