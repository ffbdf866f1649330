package wasmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The proxy-wasm ABI as Envoy implements it. These lists are the contract
// between the module and Envoy; the tests check the artifact and the probe
// against them.

// envoyHostCalls are the env.proxy_* functions Envoy's host registers for
// a module of ABI 0.2.0 (proxy-wasm-cpp-host include/proxy-wasm/exports.h
// FOR_ALL_HOST_FUNCTIONS, plus continue_stream and close_stream, which
// src/wasm.cc registers for ABI 0.2.0 and 0.2.1).
var envoyHostCalls = []string{
	"proxy_log", "proxy_get_status", "proxy_set_property", "proxy_get_property",
	"proxy_send_local_response", "proxy_get_shared_data", "proxy_set_shared_data",
	"proxy_register_shared_queue", "proxy_resolve_shared_queue", "proxy_dequeue_shared_queue",
	"proxy_enqueue_shared_queue", "proxy_get_header_map_value", "proxy_add_header_map_value",
	"proxy_replace_header_map_value", "proxy_remove_header_map_value", "proxy_get_header_map_pairs",
	"proxy_set_header_map_pairs", "proxy_get_header_map_size", "proxy_get_buffer_status",
	"proxy_get_buffer_bytes", "proxy_set_buffer_bytes", "proxy_http_call", "proxy_grpc_call",
	"proxy_grpc_stream", "proxy_grpc_close", "proxy_grpc_cancel", "proxy_grpc_send",
	"proxy_set_tick_period_milliseconds", "proxy_get_current_time_nanoseconds", "proxy_define_metric",
	"proxy_increment_metric", "proxy_record_metric", "proxy_get_metric", "proxy_set_effective_context",
	"proxy_done", "proxy_call_foreign_function",
	"proxy_continue_stream", "proxy_close_stream",
}

// envoyWASI are the wasi_snapshot_preview1 functions Envoy 1.33+ provides:
// proxy-wasm-cpp-host include/proxy-wasm/exports.h FOR_ALL_WASI_FUNCTIONS
// (fd_write ... fd_prestat_dir_name) plus sched_yield, poll_oneoff and
// fd_fdstat_set_flags, added for Go's wasip1 port by proxy-wasm-cpp-host
// PR #427, which Envoy 1.33 ships (poll_oneoff answering ENOSYS there).
// Envoy 1.39 (PR #533) adds the rest of WASI preview1; a module that needs
// only this list loads on 1.33 and later.
var envoyWASI = []string{
	"fd_write", "fd_read", "fd_seek", "fd_close", "fd_fdstat_get", "environ_get",
	"environ_sizes_get", "args_get", "args_sizes_get", "clock_time_get", "random_get",
	"proc_exit", "path_open", "fd_prestat_get", "fd_prestat_dir_name",
	"sched_yield", "poll_oneoff", "fd_fdstat_set_flags",
}

// signature is a function type in wat-like notation, e.g. "(i32,i32)->i32".
type signature string

func sig(params, results int) signature {
	p := strings.TrimSuffix(strings.Repeat("i32,", params), ",")
	r := ""
	if results > 0 {
		r = "i32"
	}
	return signature("(" + p + ")->" + r)
}

// callbackSignatures are the callbacks the SDK implements, with their
// types in the proxy-wasm ABI 0.2.0 (proxy-wasm/spec abi-versions/v0.2.0;
// proxy-wasm-cpp-host include/proxy-wasm/wasm.h). Envoy refuses a module
// whose export has another type.
var callbackSignatures = map[string]signature{
	"proxy_abi_version_0_2_0":              sig(0, 0),
	"proxy_on_memory_allocate":             sig(1, 1),
	"proxy_on_vm_start":                    sig(2, 1),
	"proxy_on_configure":                   sig(2, 1),
	"proxy_on_context_create":              sig(2, 0),
	"proxy_on_log":                         sig(1, 0),
	"proxy_on_done":                        sig(1, 1),
	"proxy_on_delete":                      sig(1, 0),
	"proxy_on_tick":                        sig(1, 0),
	"proxy_on_queue_ready":                 sig(2, 0),
	"proxy_on_request_headers":             sig(3, 1),
	"proxy_on_request_body":                sig(3, 1),
	"proxy_on_request_trailers":            sig(2, 1),
	"proxy_on_response_headers":            sig(3, 1),
	"proxy_on_response_body":               sig(3, 1),
	"proxy_on_response_trailers":           sig(2, 1),
	"proxy_on_http_call_response":          sig(5, 0),
	"proxy_on_new_connection":              sig(1, 1),
	"proxy_on_downstream_data":             sig(3, 1),
	"proxy_on_downstream_connection_close": sig(2, 0),
	"proxy_on_upstream_data":               sig(3, 1),
	"proxy_on_upstream_connection_close":   sig(2, 0),
}

// moduleABI is what a compiled module imports and exports.
type moduleABI struct {
	imports   map[string]signature // "module.name" -> type
	functions map[string]signature // exported functions
	memories  []string             // exported memories
}

// readABI compiles wasm (without instantiating it) and lists its imports
// and exports.
func readABI(t testing.TB, wasm []byte) moduleABI {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(compilationCache))
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compiling the module: %v", err)
	}
	abi := moduleABI{imports: map[string]signature{}, functions: map[string]signature{}}
	for _, f := range compiled.ImportedFunctions() {
		module, name, _ := f.Import()
		abi.imports[module+"."+name] = typeOf(f)
	}
	for name, f := range compiled.ExportedFunctions() {
		abi.functions[name] = typeOf(f)
	}
	for name := range compiled.ExportedMemories() {
		abi.memories = append(abi.memories, name)
	}
	return abi
}

// typeOf renders a function definition's type as a signature.
func typeOf(f api.FunctionDefinition) signature {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ",")
	}
	return signature("(" + names(f.ParamTypes()) + ")->" + names(f.ResultTypes()))
}

// hostCallSignatures are the types of the SDK's host calls, from hostFuncs.
func hostCallSignatures() map[string]signature {
	out := map[string]signature{}
	for _, f := range hostFuncs {
		names := make([]string, len(f.params))
		for i, p := range f.params {
			names[i] = api.ValueTypeName(p)
		}
		out[f.name] = signature("(" + strings.Join(names, ",") + ")->i32")
	}
	return out
}

// errorReporter is the part of testing.TB the checks use, so their own
// tests can record failures instead of failing.
type errorReporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// errorRecorder is an errorReporter that keeps the errors.
type errorRecorder struct{ errors []string }

func (*errorRecorder) Helper() {}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// checkEnvoyABI reports every way abi would be refused by, or misbehave
// in, Envoy 1.33+.
func checkEnvoyABI(t errorReporter, abi moduleABI) {
	t.Helper()
	allowedEnv := setOf(envoyHostCalls)
	allowedWASI := setOf(envoyWASI)
	hostTypes := hostCallSignatures()
	for imp, typ := range abi.imports {
		module, name, _ := strings.Cut(imp, ".")
		switch {
		case module == "env" && allowedEnv[name]:
			if want, ok := hostTypes[name]; ok && typ != want {
				t.Errorf("import %s has type %s, the ABI's is %s", imp, typ, want)
			}
		case module == "wasi_snapshot_preview1" && allowedWASI[name]:
		default:
			t.Errorf("import %s %s is not provided by Envoy 1.33+ (the module would fail to load)", imp, typ)
		}
	}
	if typ, ok := abi.functions["_initialize"]; !ok || typ != sig(0, 0) {
		t.Errorf("export _initialize: got %q (present %t), want a %s function", typ, ok, sig(0, 0))
	}
	for _, forbidden := range []string{"_start", "main", "malloc"} {
		// Envoy runs _start instead of _initialize, calls main after it,
		// and prefers malloc over proxy_on_memory_allocate
		// (proxy-wasm-cpp-host src/wasm.cc getFunctions, startVm).
		if _, ok := abi.functions[forbidden]; ok {
			t.Errorf("the module exports %s, which Envoy would call", forbidden)
		}
	}
	for name, want := range callbackSignatures {
		if got, ok := abi.functions[name]; !ok {
			t.Errorf("export %s is missing", name)
		} else if got != want {
			t.Errorf("export %s has type %s, the ABI's is %s", name, got, want)
		}
	}
	if len(abi.memories) != 1 || abi.memories[0] != "memory" {
		t.Errorf("exported memories = %v, want [memory]", abi.memories)
	}
}

func setOf(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestArtifactABI checks the import and export lists of the shipped module,
// build/mcp-ratelimit.wasm, against what Envoy 1.33+ provides and expects.
func TestArtifactABI(t *testing.T) {
	wasm, err := os.ReadFile(ModulePath(t))
	if err != nil {
		t.Fatal(err)
	}
	abi := readABI(t, wasm)
	checkEnvoyABI(t, abi)
	t.Logf("%s: %d bytes", ModuleFile, len(wasm))
	t.Logf("imports: %s", strings.Join(sortedKeys(abi.imports), " "))
	t.Logf("exports: %s %s", strings.Join(sortedKeys(abi.functions), " "), strings.Join(abi.memories, " "))
}

// TestProbeABI checks the probe the same way; unlike the filter, the probe
// uses every host call, so this covers every import the glue can create.
func TestProbeABI(t *testing.T) {
	abi := readABI(t, probeModule(t, false))
	checkEnvoyABI(t, abi)
	for name := range hostCallSignatures() {
		if _, ok := abi.imports["env."+name]; !ok {
			t.Errorf("the probe does not import env.%s: the tour misses a host call", name)
		}
	}
}

// TestCheckEnvoyABIRejects makes sure checkEnvoyABI can fail: each broken
// ABI must produce an error.
func TestCheckEnvoyABIRejects(t *testing.T) {
	valid := func() moduleABI {
		abi := moduleABI{
			imports:   map[string]signature{"env.proxy_log": sig(3, 1), "wasi_snapshot_preview1.fd_write": sig(4, 1)},
			functions: map[string]signature{"_initialize": sig(0, 0)},
			memories:  []string{"memory"},
		}
		for name, s := range callbackSignatures {
			abi.functions[name] = s
		}
		return abi
	}
	tests := []struct {
		name    string
		breakIt func(*moduleABI)
	}{
		{"import unknown to Envoy", func(a *moduleABI) { a.imports["env.proxy_redis_call"] = sig(1, 1) }},
		{"WASI import Envoy 1.33 lacks", func(a *moduleABI) { a.imports["wasi_snapshot_preview1.sock_accept"] = sig(3, 1) }},
		{"host call with the wrong type", func(a *moduleABI) { a.imports["env.proxy_log"] = sig(2, 1) }},
		{"no _initialize", func(a *moduleABI) { delete(a.functions, "_initialize") }},
		{"exports _start", func(a *moduleABI) { a.functions["_start"] = sig(0, 0) }},
		{"exports main", func(a *moduleABI) { a.functions["main"] = sig(2, 1) }},
		{"missing callback", func(a *moduleABI) { delete(a.functions, "proxy_on_tick") }},
		{"callback with the wrong type", func(a *moduleABI) { a.functions["proxy_on_request_body"] = sig(2, 1) }},
		{"no memory", func(a *moduleABI) { a.memories = nil }},
	}
	var ok errorRecorder
	checkEnvoyABI(&ok, valid())
	if len(ok.errors) != 0 {
		t.Fatalf("checkEnvoyABI rejects a valid ABI: %v", ok.errors)
	}
	for _, tc := range tests {
		abi := valid()
		tc.breakIt(&abi)
		var got errorRecorder
		checkEnvoyABI(&got, abi)
		if len(got.errors) != 1 {
			t.Errorf("%s: checkEnvoyABI reported %d errors, want 1: %v", tc.name, len(got.errors), got.errors)
		}
	}
}

// exportComment matches TinyGo's //export comments in the SDK.
var exportComment = regexp.MustCompile(`(?m)^//export (proxy_\w+)$`)

// sdkExports lists the //export names in the SDK copy's internal package
// files matching pattern (test files excluded).
func sdkExports(t *testing.T, pattern string) map[string]bool {
	t.Helper()
	if _, err := probeWorkspace(); err != nil {
		t.Fatalf("preparing the build workspace: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(probe.work, "sdk", "proxywasm", "internal", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no SDK files match %s (%v)", pattern, err)
	}
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range exportComment.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	return names
}

// glueDirectives lists the names of the given directive ("go:wasmimport
// env" or "go:wasmexport") in the glue files.
func glueDirectives(t *testing.T, directive string) map[string]bool {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "filter", "wasmbuild", "_glue", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no glue files (%v)", err)
	}
	re := regexp.MustCompile(`(?m)^//` + regexp.QuoteMeta(directive) + ` (\w+)$`)
	names := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			if names[m[1]] {
				t.Errorf("%s is declared twice", m[1])
			}
			names[m[1]] = true
		}
	}
	return names
}

// TestGlueCoversTheSDK checks that the glue imports every host call of the
// SDK's TinyGo build (internal/abi_hostcalls.go) and exports every callback
// (internal/abi_callback_*.go), no more and no less, and that the test
// tables here know them all.
func TestGlueCoversTheSDK(t *testing.T) {
	tests := []struct {
		name      string
		sdk       map[string]bool
		glue      map[string]bool
		testTable map[string]bool
	}{
		{
			name:      "host calls",
			sdk:       sdkExports(t, "abi_hostcalls.go"),
			glue:      glueDirectives(t, "go:wasmimport env"),
			testTable: setOf(sortedKeys(hostCallSignatures())),
		},
		{
			name:      "callbacks",
			sdk:       sdkExports(t, "abi_callback_*.go"),
			glue:      glueDirectives(t, "go:wasmexport"),
			testTable: setOf(sortedKeys(callbackSignatures)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.sdk) == 0 {
				t.Fatal("found nothing in the SDK")
			}
			if diff := setDiff(tc.sdk, tc.glue); diff != "" {
				t.Errorf("SDK vs glue: %s", diff)
			}
			if diff := setDiff(tc.sdk, tc.testTable); diff != "" {
				t.Errorf("SDK vs this test's table: %s", diff)
			}
			t.Logf("%d %s", len(tc.sdk), tc.name)
		})
	}
}

// setDiff describes how b differs from a, or returns "".
func setDiff(a, b map[string]bool) string {
	var missing, extra []string
	for k := range a {
		if !b[k] {
			missing = append(missing, k)
		}
	}
	for k := range b {
		if !a[k] {
			extra = append(extra, k)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return fmt.Sprintf("missing %v, extra %v", missing, extra)
}
