// Package wasmtest runs proxytest-based unit tests against the compiled
// proxy-wasm module, so each behaviour test written against a
// types.VMContext runs twice: with the filter's Go VM context (fast,
// debuggable) and with build/mcp-ratelimit.wasm loaded in wazero (what
// Envoy runs).
//
//	vm := wasmtest.NewVMContext(t, wasmtest.ModulePath(t))
//	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm))
//	defer reset()
//
// NewVMContext uses the SDK's proxytest.NewWasmVMContext unchanged; the
// only difference is the module it is given: AddStartAlias makes wazero
// call the reactor's _initialize on instantiation, which the SDK's wrapper
// never does and Go's c-shared modules require. Host calls of the module
// go to whichever proxytest host emulator is current, as with the Go VM
// context. Compiling the module takes about half a second, so create one
// per test (not per assertion).
//
// Limits of the SDK's wrapper, and so of the wasm runs: it supports HTTP
// contexts only (NewTcpContext returns nil), never calls proxy_on_delete,
// and gives the module wazero's full WASI (a working poll_oneoff, unlike
// Envoy 1.33-1.38). The local host (envoy/host) covers those.
package wasmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// ModuleFile is the artifact `make build` writes, relative to the
// repository root.
const ModuleFile = "build/mcp-ratelimit.wasm"

// projectModule is the module path in the repository's go.mod.
const projectModule = "github.com/mcp-ratelimit/mcp-ratelimit-wasm"

// NewVMContext loads the compiled module at wasmPath into wazero and returns
// it as a types.VMContext for proxytest.NewEmulatorOption().WithVMContext.
// The module is closed when the test ends. A trap or error inside the
// module fails the test (with the module's error and stack) instead of
// crashing the test binary.
func NewVMContext(t testing.TB, wasmPath string) types.VMContext {
	t.Helper()
	module, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatalf("wasmtest: reading the module: %v (run `make build`)", err)
	}
	module, err = AddStartAlias(module)
	if err != nil {
		t.Fatalf("wasmtest: %s: %v", wasmPath, err)
	}
	vm, err := newWasmVMContext(module)
	if err != nil {
		t.Fatalf("wasmtest: loading %s: %v", wasmPath, err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("wasmtest: closing %s: %v", wasmPath, err)
		}
	})
	return &trapGuardVM{t: t, vm: vm}
}

// newWasmVMContext calls the SDK's wrapper, turning its panics into errors.
func newWasmVMContext(module []byte) (vm proxytest.WasmVMContext, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the module panicked while starting: %v", r)
		}
	}()
	return proxytest.NewWasmVMContext(module)
}

// ModulePath returns the absolute path of build/mcp-ratelimit.wasm and
// fails the test if it does not exist. It works from any package folder of
// the repository, which is where `go test` runs tests. It logs a warning
// when a Go file or a file of filter/wasmbuild/_glue is newer than the module,
// since tests would then run against stale code.
func ModulePath(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("wasmtest: %v", err)
	}
	path := filepath.Join(root, filepath.FromSlash(ModuleFile))
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("wasmtest: %s is missing: run `make build` first (%v)", ModuleFile, err)
	}
	if info.IsDir() || info.Size() == 0 {
		t.Fatalf("wasmtest: %s is not a module: run `make build`", path)
	}
	if newer := newerSource(root, info); newer != "" {
		t.Logf("wasmtest: WARNING: %s is newer than %s: run `make build` to test the current code", newer, ModuleFile)
	}
	return path
}

// RepoRoot finds the repository root: the nearest folder, from the working
// directory up, whose go.mod declares the project's module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if isProjectRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", projectModule)
		}
		dir = parent
	}
}

// isProjectRoot reports whether dir holds the project's go.mod.
func isProjectRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := bytes.Fields(s.Bytes())
		if len(fields) == 2 && string(fields[0]) == "module" {
			return string(fields[1]) == projectModule
		}
	}
	return false
}

var (
	newerSourceOnce   sync.Once
	newerSourceResult string
)

// moduleSources are the folders, relative to the repository root, whose Go
// files (tests and testdata excluded) can end up in the module, besides the
// root folder's own files; the glue folder counts whatever the extension.
var moduleSources = []string{"filter", "bucket"}

// notModuleSources are folders under moduleSources that hold test and build
// tooling, not code of the module; glueDir is inside one of them.
var notModuleSources = map[string]bool{"testdata": true, "wasmtest": true, "filtertest": true, "wasmbuild": true}

// glueDir is the SDK glue the build adds to the module, relative to the
// repository root.
var glueDir = filepath.Join("filter", "wasmbuild", "_glue")

// newerSource returns a source file of the module modified after the
// module was built, or "". It looks once per test binary.
func newerSource(root string, module os.FileInfo) string {
	newerSourceOnce.Do(func() {
		isNewer := func(path string, d os.DirEntry) bool {
			info, err := d.Info()
			if err != nil || !info.ModTime().After(module.ModTime()) {
				return false
			}
			newerSourceResult, _ = filepath.Rel(root, path)
			return true
		}
		isSource := func(path string) bool {
			return filepath.Ext(path) == ".go" && !strings.HasSuffix(path, "_test.go")
		}
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if path := filepath.Join(root, e.Name()); !e.IsDir() && isSource(path) && isNewer(path, e) {
				return
			}
		}
		for _, dir := range moduleSources {
			_ = filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
				switch {
				case err != nil:
					return nil // unreadable: nothing to compare
				case d.IsDir() && notModuleSources[d.Name()]:
					return filepath.SkipDir
				case d.IsDir():
					return nil
				case isSource(path) && isNewer(path, d):
					return filepath.SkipAll
				}
				return nil
			})
			if newerSourceResult != "" {
				return
			}
		}
		glue, _ := os.ReadDir(filepath.Join(root, glueDir))
		for _, e := range glue {
			if !e.IsDir() && isNewer(filepath.Join(root, glueDir, e.Name()), e) {
				return
			}
		}
	})
	return newerSourceResult
}
