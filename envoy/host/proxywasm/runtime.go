// Package proxywasm runs proxy-wasm modules on wazero the way Envoy's
// proxy-wasm host (proxy-wasm-cpp-host and Envoy's
// source/extensions/common/wasm) runs them: the same host calls with the
// same answers, Envoy's set of WASI functions (not a full WASI), the VM and
// context lifecycle, shared data and queues, metrics, ticks and HTTP
// callouts. Each behaviour names its source in a comment.
//
// A Runtime compiles a module once; NewVM instantiates it (one VM per
// Envoy worker thread, cloned from one compiled module). A VM runs one call
// at a time: every entry point takes the VM's mutex, as a Wasm VM is single
// threaded and each Envoy worker owns its own.
package proxywasm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/shareddata"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/stats"
)

// LogLevel is a proxy-wasm log level.
type LogLevel uint32

// Log levels (proxy-wasm ABI LogLevel, spdlog's order in Envoy).
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

var logLevelNames = []string{"trace", "debug", "info", "warning", "error", "critical"}

func (l LogLevel) String() string {
	if int(l) < len(logLevelNames) {
		return logLevelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint32(l))
}

// ParseLogLevel parses trace, debug, info, warn(ing), error or critical.
func ParseLogLevel(s string) (LogLevel, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return LogTrace, nil
	case "debug":
		return LogDebug, nil
	case "", "info":
		return LogInfo, nil
	case "warn", "warning":
		return LogWarn, nil
	case "error", "err":
		return LogError, nil
	case "critical":
		return LogCritical, nil
	}
	return 0, fmt.Errorf("proxywasm: unknown log level %q (trace, debug, info, warn, error, critical)", s)
}

// Callout is an HTTP request a module sends with proxy_http_call.
type Callout struct {
	Cluster  string
	Headers  [][2]string // including :method, :path, :authority
	Body     []byte
	Trailers [][2]string
	// Timeout is the call's timeout; 0 means none was given.
	Timeout time.Duration
}

// CalloutResponse is the answer to a Callout. Err set means the call
// failed (reset, timeout, connection refused): Envoy then calls
// on_http_call_response with no headers and no body.
type CalloutResponse struct {
	Headers  [][2]string // including :status
	Body     []byte
	Trailers [][2]string
	Err      error
}

// Env is what the VMs of one host share.
type Env struct {
	// SharedData and Queues are the process-wide stores.
	SharedData *shareddata.Store
	Queues     *shareddata.Queues
	// Stats receives the metrics modules define.
	Stats *stats.Store
	// Log writes one log line (already formatted with the plugin prefix).
	Log func(level LogLevel, line string)
	// LogLevel is the host's level: proxy_get_log_level returns it and
	// lower module messages are dropped.
	LogLevel LogLevel
	// HasCluster reports whether a cluster exists (proxy_http_call refuses
	// unknown clusters with BadArgument).
	HasCluster func(name string) bool
	// HTTPCall sends a callout and calls done exactly once, from any
	// goroutine, with its response.
	HTTPCall func(c Callout, done func(CalloutResponse))
	// RedisCall sends a RESP command to a Redis cluster (Higress profile,
	// redis.go) and calls done exactly once, from any goroutine, with the
	// raw RESP reply or an error.
	RedisCall func(c RedisCallout, done func(reply []byte, err error))
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// CallTimeout bounds every call into a VM of a runtime made with
	// WithCallWatchdog; a call running longer is aborted and the VM fails
	// (default 10s). It has no effect on a runtime without the watchdog,
	// whose calls, as in Envoy, run until they return.
	CallTimeout time.Duration
	// NodeID and NodeCluster are the bootstrap's node.id and node.cluster.
	NodeID, NodeCluster string
	// OnFailure, when set, is called (outside the VM lock) once when a VM
	// fails.
	OnFailure func(vm *VM, err error)
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) log(level LogLevel, line string) {
	if level < e.LogLevel || e.Log == nil {
		return
	}
	e.Log(level, line)
}

// Runtime is one compiled module and the wazero runtime its VMs run in.
type Runtime struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	profile  Profile
	abi      string
	// watchdog: calls honour Env.CallTimeout (WithCallWatchdog).
	watchdog bool
}

// Compilation caches keep compiled modules for the life of the process, so
// tests and hosts that load the same module again skip the compilation. Code
// compiled with the call watchdog differs (it checks for cancellation at
// every function entry and loop), hence two caches.
var (
	compilationCache         = wazero.NewCompilationCache()
	watchdogCompilationCache = wazero.NewCompilationCache()
)

// RuntimeOption configures NewRuntime.
type RuntimeOption func(*runtimeOptions)

type runtimeOptions struct {
	watchdog bool
}

// WithCallWatchdog makes every call into the runtime's VMs abortable after
// Env.CallTimeout, so a module that loops fails its VM instead of hanging
// the host. Envoy has no such watchdog, and it is costly: wazero then checks
// for cancellation at every function entry and loop back-edge, which made
// the filter read a 1 MiB body 26 times slower (72 ms instead of 2.8 ms,
// measured with wazero 1.12 on amd64). Leave it off to measure the module as
// Envoy runs it.
func WithCallWatchdog() RuntimeOption {
	return func(o *runtimeOptions) { o.watchdog = true }
}

// vmKey finds the VM a host function was called for.
type vmKey struct{}

// NewRuntime compiles code and checks it as Envoy does when it loads a
// module: every import must be one the host provides (Envoy: "Failed to
// load Wasm module due to a missing import") and the module must export a
// proxy-wasm ABI version.
func NewRuntime(ctx context.Context, code []byte, profile Profile, opts ...RuntimeOption) (*Runtime, error) {
	if profile.InitAllowed == nil {
		return nil, errors.New("proxywasm: profile is empty (use ProfileFor)")
	}
	var o runtimeOptions
	for _, opt := range opts {
		opt(&o)
	}
	cache := compilationCache
	if o.watchdog {
		cache = watchdogCompilationCache
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCloseOnContextDone(o.watchdog).
		WithCompilationCache(cache))
	r := &Runtime{rt: rt, profile: profile, watchdog: o.watchdog}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("proxywasm: compile module: %w", err)
	}
	r.compiled = compiled
	provided := map[string]bool{}
	for _, module := range []string{"env", "wasi_snapshot_preview1", "wasi_unstable"} {
		b := rt.NewHostModuleBuilder(module)
		var fns []hostFunc
		if module == "env" {
			fns = envFunctions()
			if profile.HigressRedis {
				fns = append(fns, redisFunctions()...)
			}
		} else {
			fns = wasiFunctions(profile)
		}
		for _, f := range fns {
			provided[module+"."+f.name] = true
			b.NewFunctionBuilder().
				WithGoModuleFunction(wrapHostFunc(module+"."+f.name, f.fn), f.params, f.results).
				WithName(f.name).
				Export(f.name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			rt.Close(ctx)
			return nil, fmt.Errorf("proxywasm: host module %s: %w", module, err)
		}
	}
	var missing []string
	for _, def := range compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		if !provided[mod+"."+name] {
			missing = append(missing, mod+"."+name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		rt.Close(ctx)
		return nil, fmt.Errorf("proxywasm: Failed to load Wasm module due to a missing import: %s", strings.Join(missing, ", "))
	}
	exports := compiled.ExportedFunctions()
	for _, v := range []string{"proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0", "proxy_abi_version_0_1_0"} {
		if _, ok := exports[v]; ok {
			r.abi = v
			break
		}
	}
	if r.abi == "" {
		rt.Close(ctx)
		return nil, errors.New("proxywasm: Wasm module is missing the Proxy-Wasm ABI version (no proxy_abi_version_* export)")
	}
	return r, nil
}

// Profile is the Envoy profile the runtime emulates.
func (r *Runtime) Profile() Profile { return r.profile }

// ABIVersion is the proxy_abi_version_* export the module declares.
func (r *Runtime) ABIVersion() string { return r.abi }

// Close releases the runtime and every VM instantiated from it.
func (r *Runtime) Close(ctx context.Context) error {
	if err := r.rt.Close(ctx); err != nil {
		return fmt.Errorf("proxywasm: close runtime: %w", err)
	}
	return nil
}

// hostFunc is one imported function the host provides.
type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(vm *VM, stack []uint64)
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func types(t ...api.ValueType) []api.ValueType { return t }

// trapError aborts the module call in progress.
type trapError struct{ msg string }

func (e *trapError) Error() string { return e.msg }

// wrapHostFunc finds the calling VM and enforces the restricted-callback
// lists (proxy-wasm-cpp-host: a call outside the allowed list while
// restricted traps with "restricted_callback").
func wrapHostFunc(fullName string, fn func(vm *VM, stack []uint64)) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		vm, _ := ctx.Value(vmKey{}).(*VM)
		if vm == nil {
			panic(&trapError{msg: "proxywasm: host function " + fullName + " called outside a VM call"})
		}
		if vm.restricted != nil && !vm.restricted[fullName] {
			vm.restrictedHit = fullName
			panic(&trapError{msg: "restricted_callback: " + fullName})
		}
		if vm.traceCalls {
			vm.env.log(LogTrace, fmt.Sprintf("[vm->host] %s%v", fullName, stack))
		}
		fn(vm, stack)
		if vm.traceCalls && len(stack) > 0 {
			vm.env.log(LogTrace, fmt.Sprintf("[vm<-host] %s return: %d", fullName, uint32(stack[0])))
		}
	}
}
