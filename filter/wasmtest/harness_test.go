package wasmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// probeFile writes the patched probe to a file, as NewVMContext takes a
// path.
func probeFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "probe.wasm")
	if err := os.WriteFile(path, probeModule(t, false), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNewVMContextUnderEmulator drives the compiled probe through the SDK's
// proxytest host emulator, exactly as the filter's tests drive the
// compiled filter.
func TestNewVMContextUnderEmulator(t *testing.T) {
	path := probeFile(t)
	tests := []struct {
		name         string
		pluginConfig string
		run          func(t *testing.T, host proxytest.HostEmulator) (moreLogs []string)
		wantLogs     []string
	}{
		{
			name:         "local reply",
			pluginConfig: "cfg",
			run: func(t *testing.T, host proxytest.HostEmulator) []string {
				id := host.InitializeHttpContext()
				action := host.CallOnRequestHeaders(id, [][2]string{{"x-probe-command", "reply"}}, false)
				if action != types.ActionPause {
					t.Errorf("request headers: action %v, want Pause", action)
				}
				reply := host.GetSentLocalResponse(id)
				if reply == nil {
					t.Fatal("no local reply")
				}
				if reply.StatusCode != 418 || string(reply.Data) != "probe reply" ||
					!slices.Contains(reply.Headers, [2]string{"x-probe", "reply"}) {
					t.Errorf("local reply = %d %q %v, want 418 \"probe reply\" with x-probe: reply",
						reply.StatusCode, reply.Data, reply.Headers)
				}
				return nil
			},
			wantLogs: []string{`probe cb vm_start 7 "vm-conf" ok`, `probe cb plugin_start 1 3 "cfg" ok`, "probe ret send_local_response ok"},
		},
		{
			name:         "buffered body",
			pluginConfig: "cfg",
			run: func(t *testing.T, host proxytest.HostEmulator) []string {
				id := host.InitializeHttpContext()
				if a := host.CallOnRequestHeaders(id, [][2]string{{":method", "POST"}}, false); a != types.ActionContinue {
					t.Errorf("request headers: action %v, want Continue", a)
				}
				if a := host.CallOnRequestBody(id, []byte("hello "), false); a != types.ActionPause {
					t.Errorf("first chunk: action %v, want Pause", a)
				}
				if a := host.CallOnRequestBody(id, []byte("world"), true); a != types.ActionContinue {
					t.Errorf("last chunk: action %v, want Continue", a)
				}
				host.CompleteHttpContext(id)
				return []string{fmt.Sprintf("probe cb http_stream_done %d", id)}
			},
			wantLogs: []string{`probe ret request_body "hello world" ok`},
		},
		{
			name:         "plugin refuses its configuration",
			pluginConfig: "reject",
			wantLogs:     []string{`probe cb plugin_start 1 6 "reject" ok`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vm := NewVMContext(t, path)
			host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
				WithVMContext(vm).
				WithVMConfiguration([]byte("vm-conf")).
				WithPluginConfiguration([]byte(tc.pluginConfig)))
			defer reset()
			if got := host.StartVM(); got != types.OnVMStartStatusOK {
				t.Fatalf("StartVM = %v", got)
			}
			wantStart := types.OnPluginStartStatus(tc.pluginConfig != "reject")
			if got := host.StartPlugin(); got != wantStart {
				t.Fatalf("StartPlugin = %v, want %v", got, wantStart)
			}
			wantLogs := tc.wantLogs
			if tc.run != nil {
				wantLogs = append(wantLogs, tc.run(t, host)...)
			}
			logs := host.GetInfoLogs()
			for _, want := range wantLogs {
				if !slices.Contains(logs, want) {
					t.Errorf("no log %q in:\n\t%s", want, strings.Join(logs, "\n\t"))
				}
			}
		})
	}
}

// fakeTB records what a test helper reports instead of failing the test.
// Fatal ends the calling goroutine, so helpers under test run in run.
type fakeTB struct {
	testing.TB
	fatal    string
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Errorf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func (f *fakeTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// run runs fn on its own goroutine and waits for it to return or to end
// through Fatalf.
func (f *fakeTB) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// cleanup runs the registered cleanups, last first.
func (f *fakeTB) cleanup() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// TestNewVMContextTrapFailsTheTest checks that a trap in the module fails
// the test that caused it, naming the callback, rather than panicking.
func TestNewVMContextTrapFailsTheTest(t *testing.T) {
	fake := &fakeTB{TB: t}
	defer fake.cleanup()
	vm := NewVMContext(fake, probeFile(t))
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm))
	defer reset()
	host.StartVM()
	host.StartPlugin()
	id := host.InitializeHttpContext()
	fake.run(func() {
		host.CallOnRequestHeaders(id, [][2]string{{"x-probe-command", "panic"}}, true)
		t.Error("the call returned although the module trapped")
	})
	if !strings.Contains(fake.fatal, "the module failed in proxy_on_request_headers") {
		t.Errorf("reported %q, want the failing callback named", fake.fatal)
	}
}

// TestNewVMContextRejects checks NewVMContext's errors for files that are
// not a usable module.
func TestNewVMContextRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, content []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing file", filepath.Join(dir, "missing.wasm"), "run `make build`"},
		{"not wasm", write("text.wasm", []byte("hello, world")), "no \\0asm magic number"},
		{"WASI command", write("command.wasm", testModule(
			export{name: "_start", kind: exportKindFunction, index: 0},
		)), "already exports _start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeTB{TB: t}
			defer fake.cleanup()
			fake.run(func() {
				NewVMContext(fake, tc.path)
				t.Error("NewVMContext returned")
			})
			if !strings.Contains(fake.fatal, tc.want) {
				t.Errorf("reported %q, want it to contain %q", fake.fatal, tc.want)
			}
		})
	}
}

// TestModulePath checks where ModulePath looks and what it says when the
// module is not there.
func TestModulePath(t *testing.T) {
	t.Run("found from a package folder", func(t *testing.T) {
		path := ModulePath(t)
		if !strings.HasSuffix(filepath.ToSlash(path), "/"+ModuleFile) || !filepath.IsAbs(path) {
			t.Errorf("ModulePath = %q, want an absolute path ending in %s", path, ModuleFile)
		}
	})
	tests := []struct {
		name  string
		gomod string // "" for no go.mod
		want  string
	}{
		{"checkout without a build", "module " + projectModule + "\n\ngo 1.26\n", "build/mcp-ratelimit.wasm is missing: run `make build` first"},
		{"outside the repository", "", "no go.mod of " + projectModule},
		{"another module", "module example.com/other\n", "no go.mod of " + projectModule},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.gomod != "" {
				if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(tc.gomod), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			sub := filepath.Join(dir, "filter", "x")
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Chdir(sub)
			fake := &fakeTB{TB: t}
			fake.run(func() {
				ModulePath(fake)
				t.Error("ModulePath returned")
			})
			if !strings.Contains(fake.fatal, tc.want) {
				t.Errorf("reported %q, want it to contain %q", fake.fatal, tc.want)
			}
		})
	}
}

// BenchmarkNewVMContext measures what NewVMContext costs each test: the
// alias rewrite, compiling build/mcp-ratelimit.wasm with wazero,
// instantiating it and running _initialize.
func BenchmarkNewVMContext(b *testing.B) {
	module, err := os.ReadFile(ModulePath(b))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		aliased, err := AddStartAlias(module)
		if err != nil {
			b.Fatal(err)
		}
		vm, err := newWasmVMContext(aliased)
		if err != nil {
			b.Fatal(err)
		}
		if err := vm.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
