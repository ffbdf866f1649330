package jumpthread

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// goWasm runs the go command with GOOS=wasip1 GOARCH=wasm in dir and
// returns the module it wrote to out.wasm in a temporary folder.
func goWasm(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.wasm")
	cmd := exec.Command("go", append(args, "-o", out)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	module, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return module
}

// runWASI runs a WASI command module with args, the folder root mounted
// as /, and returns its exit code and output.
func runWASI(t *testing.T, module []byte, root string, args ...string) (exitCode uint32, stdout, stderr string) {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var out, errOut bytes.Buffer
	cfg := wazero.NewModuleConfig().WithArgs(append([]string{"test"}, args...)...).
		WithStdout(&out).WithStderr(&errOut).WithEnv("PWD", "/").
		WithFSConfig(wazero.NewFSConfig().WithDirMount(root, "/"))
	_, err := r.InstantiateWithConfig(ctx, module, cfg)
	var exit *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		exitCode = exit.ExitCode()
	default:
		t.Fatalf("running: %v\n%s", err, errOut.String())
	}
	return exitCode, out.String(), errOut.String()
}

// TestThreadedGoProgram runs a Go program as built and threaded: the same
// transcript, through goroutine switches, stack growth and panics, which
// enter functions at their resume points.
func TestThreadedGoProgram(t *testing.T) {
	module := goWasm(t, "testdata/program", "build")
	threaded, stats, err := Thread(module)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Threaded < 1000 || stats.Backward < 100 {
		t.Errorf("stats %+v: a Go program has thousands of forward jumps and hundreds of backward ones", stats)
	}
	root := t.TempDir()
	code, want, _ := runWASI(t, module, root)
	if code != 0 || !strings.HasSuffix(want, "gc true\n") {
		t.Fatalf("the program as built exits %d with\n%s", code, want)
	}
	code, got, stderr := runWASI(t, threaded, root)
	if code != 0 || got != want {
		t.Errorf("threaded, the program exits %d with\n%s%s\nwant\n%s", code, got, stderr, want)
	}
}

// TestThreadedReaderTests runs the tests of the filter's JSON-RPC reader,
// built for wasip1 and threaded.
func TestThreadedReaderTests(t *testing.T) {
	dir, err := filepath.Abs("../../../jsonrpc")
	if err != nil {
		t.Fatal(err)
	}
	threaded, stats, err := Thread(goWasm(t, dir, "test", "-c"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Threaded == 0 {
		t.Fatalf("nothing threaded: %+v", stats)
	}
	code, stdout, stderr := runWASI(t, threaded, dir, "-test.count=1")
	if code != 0 || !strings.HasSuffix(stdout, "PASS\n") {
		t.Errorf("threaded, the reader's tests exit %d:\n%s%s", code, stdout, stderr)
	}
}
