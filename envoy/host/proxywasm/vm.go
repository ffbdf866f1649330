package proxywasm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Result is a proxy-wasm WasmResult.
type Result uint32

// WasmResult codes (proxy-wasm ABI).
const (
	ResultOK                  Result = 0
	ResultNotFound            Result = 1
	ResultBadArgument         Result = 2
	ResultSerializationFailed Result = 3
	ResultParseFailure        Result = 4
	ResultInvalidMemoryAccess Result = 6
	ResultEmpty               Result = 7
	ResultCasMismatch         Result = 8
	ResultInternalFailure     Result = 10
	ResultBrokenConnection    Result = 11
	ResultUnimplemented       Result = 12
)

// VMConfig describes one VM (Envoy's vm_config).
type VMConfig struct {
	// VMID scopes shared data and queues.
	VMID string
	// Configuration is vm_config.configuration (read in on_vm_start).
	Configuration []byte
	// Env is vm_config.environment_variables (WASI environ).
	Env map[string]string
	// Name labels the VM in logs (e.g. "worker 0").
	Name string
}

// ErrVMFailed is wrapped by errors from calls into a failed VM.
var ErrVMFailed = errors.New("proxywasm: VM failed")

// VM is one instance of the module: one Envoy worker's VM.
type VM struct {
	rt  *Runtime
	env *Env
	cfg VMConfig

	mu  sync.Mutex // held for every call into the module
	mod api.Module
	mem api.Memory
	ctx context.Context // carries the VM for host functions

	fnMalloc api.Function
	fns      map[string]api.Function

	// mallocStack holds proxy_on_memory_allocate's parameter and result,
	// and scratch the bytes a host call copies into the module (header
	// pairs, a shared-data value): reused, so that a host call allocates
	// nothing in the host once they have grown. Both are used under mu,
	// and proxy_on_memory_allocate may make no host call that uses them.
	mallocStack   [1]uint64
	mallocReturns bool // fnMalloc has a result
	scratch       []byte

	failed        error
	failOnce      sync.Once
	restricted    map[string]bool
	restrictedHit string
	traceCalls    bool

	nextContextID uint32
	roots         map[uint32]*RootContext
	streams       map[uint32]*Stream
	current       uint32 // context of the call in progress
	effective     uint32 // proxy_set_effective_context

	nextCalloutID uint32
	metricTab     *metricTable
	closed        bool
	tickers       sync.WaitGroup
}

// NewVM instantiates the module, runs _initialize (the WASI reactor's
// initialisation: the Go runtime and init functions) under the profile's
// restricted list, as proxy-wasm-cpp-host WasmBase::startVm does. Plugins
// are started with StartPlugin.
func (r *Runtime) NewVM(ctx context.Context, env *Env, cfg VMConfig) (*VM, error) {
	mod, err := r.rt.InstantiateModule(ctx, r.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("proxywasm: instantiate module: %w", err)
	}
	vm := &VM{
		rt: r, env: env, cfg: cfg, mod: mod, mem: mod.Memory(),
		fns:           map[string]api.Function{},
		nextContextID: 1, // 0 is the VM context (proxy-wasm-cpp-host wasm.h next_context_id_)
		roots:         map[uint32]*RootContext{},
		streams:       map[uint32]*Stream{},
		traceCalls:    env.LogLevel <= LogTrace,
	}
	vm.ctx = context.WithValue(context.Background(), vmKey{}, vm)
	if vm.mem == nil {
		mod.Close(ctx)
		return nil, errors.New("proxywasm: module exports no memory")
	}
	for name := range r.compiled.ExportedFunctions() {
		vm.fns[name] = mod.ExportedFunction(name)
	}
	// proxy-wasm-cpp-host getFunctions: proxy_on_memory_allocate, else malloc.
	vm.fnMalloc = vm.fns["proxy_on_memory_allocate"]
	if vm.fnMalloc == nil {
		vm.fnMalloc = vm.fns["malloc"]
	}
	vm.mallocReturns = vm.fnMalloc != nil && len(vm.fnMalloc.Definition().ResultTypes()) > 0
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if init := vm.fns["_initialize"]; init != nil {
		if _, err := vm.callRestricted(r.profile.InitAllowed, "_initialize", init); err != nil {
			vm.closeLocked()
			return nil, fmt.Errorf("proxywasm: %s: _initialize failed: %w", cfg.Name, err)
		}
		if main := vm.fns["main"]; main != nil {
			// A reactor that also exports main gets it called with (0, 0)
			// (proxy-wasm-cpp-host WasmBase::startVm).
			if _, err := vm.callRestricted(r.profile.InitAllowed, "main", main, 0, 0); err != nil {
				vm.closeLocked()
				return nil, fmt.Errorf("proxywasm: %s: main failed: %w", cfg.Name, err)
			}
		}
	} else if start := vm.fns["_start"]; start != nil {
		if _, err := vm.callRestricted(r.profile.InitAllowed, "_start", start); err != nil {
			vm.closeLocked()
			return nil, fmt.Errorf("proxywasm: %s: _start failed: %w", cfg.Name, err)
		}
	}
	return vm, nil
}

// Name is the VM's label.
func (vm *VM) Name() string { return vm.cfg.Name }

// VMID is the VM's vm_id.
func (vm *VM) VMID() string { return vm.cfg.VMID }

// Failed returns the error that failed the VM, or nil.
func (vm *VM) Failed() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.failed
}

// MemoryBytes is the size of the VM's linear memory (pages × 64 KiB).
func (vm *VM) MemoryBytes() uint64 {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.closed {
		return 0
	}
	return uint64(vm.mem.Size())
}

// Close stops the VM's tickers and frees its instance. Root contexts are
// not finished (use RootContext.Shutdown first for an orderly stop).
func (vm *VM) Close() {
	vm.mu.Lock()
	vm.closeLocked()
	vm.mu.Unlock()
	vm.tickers.Wait()
}

func (vm *VM) closeLocked() {
	if vm.closed {
		return
	}
	vm.closed = true
	for _, r := range vm.roots {
		r.stopTicker()
	}
	_ = vm.mod.Close(context.Background())
}

// callRestricted calls fn with a restricted list of allowed imports.
func (vm *VM) callRestricted(allowed map[string]bool, name string, fn api.Function, params ...uint64) ([]uint64, error) {
	prev := vm.restricted
	vm.restricted = allowed
	defer func() { vm.restricted = prev }()
	return vm.callExport(name, fn, params...)
}

// callExport runs one export, with the call watchdog when the runtime has
// one. A trap or an error fails the VM (proxy-wasm-cpp-host:
// FailState::RuntimeError).
func (vm *VM) callExport(name string, fn api.Function, params ...uint64) ([]uint64, error) {
	if vm.failed != nil {
		return nil, vm.failed
	}
	if vm.closed {
		return nil, fmt.Errorf("%w: VM closed", ErrVMFailed)
	}
	ctx, cancel := vm.ctx, context.CancelFunc(func() {})
	timeout := vm.env.CallTimeout
	if vm.rt.watchdog {
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		ctx, cancel = context.WithTimeout(vm.ctx, timeout)
	}
	vm.restrictedHit = ""
	res, err := fn.Call(ctx, params...)
	expired := ctx.Err() == context.DeadlineExceeded
	cancel()
	if err != nil {
		if expired {
			err = fmt.Errorf("call exceeded %v (the host's watchdog aborted it): %w", timeout, err)
		}
		vm.fail(fmt.Errorf("Function: %s failed: %w", name, err))
		return nil, vm.failed
	}
	return res, nil
}

// fail marks the VM failed (only the first failure counts) and reports it.
func (vm *VM) fail(err error) {
	if vm.failed != nil {
		return
	}
	vm.failed = fmt.Errorf("%w: %s: %w", ErrVMFailed, vm.cfg.Name, err)
	vm.env.log(LogCritical, fmt.Sprintf("[wasm] %s (vm_id %q): %v", vm.cfg.Name, vm.cfg.VMID, err))
	for _, r := range vm.roots {
		r.stopTicker()
	}
	if vm.env.OnFailure != nil {
		failed := vm.failed
		go vm.failOnce.Do(func() { vm.env.OnFailure(vm, failed) })
	}
}

// call invokes a proxy_on_* export for a context; a missing export is a
// no-op returning 0 and ok=false.
func (vm *VM) call(contextID uint32, name string, params ...uint64) (uint64, bool, error) {
	fn := vm.fns[name]
	if fn == nil {
		return 0, false, nil
	}
	prevCurrent, prevEffective := vm.current, vm.effective
	vm.current, vm.effective = contextID, 0
	if vm.traceCalls {
		vm.env.log(LogTrace, fmt.Sprintf("[host->vm] %s%v", name, params))
	}
	res, err := vm.callExport(name, fn, params...)
	vm.current, vm.effective = prevCurrent, prevEffective
	if err != nil {
		return 0, true, err
	}
	if len(res) == 0 {
		return 0, true, nil
	}
	return res[0], true, nil
}

// allocate asks the module for size bytes through proxy_on_memory_allocate
// under the allocation's restricted list (proxy-wasm-cpp-host
// WasmBase::allocMemory).
func (vm *VM) allocate(size uint32) (uint32, bool) {
	if vm.fnMalloc == nil {
		return 0, false
	}
	prevRestricted := vm.restricted
	vm.restricted = vm.rt.profile.AllocAllowed
	vm.mallocStack[0] = uint64(size)
	err := vm.fnMalloc.CallWithStack(vm.ctx, vm.mallocStack[:])
	vm.restricted = prevRestricted
	if err != nil {
		hit := vm.restrictedHit
		if hit != "" {
			err = fmt.Errorf("%w (import %s called inside proxy_on_memory_allocate)", err, hit)
		}
		// The trap propagates into the host call in progress, which then
		// aborts the export that made it.
		vm.fail(fmt.Errorf("Function: proxy_on_memory_allocate failed: %w", err))
		panic(&trapError{msg: "proxy_on_memory_allocate failed: " + err.Error()})
	}
	if !vm.mallocReturns || vm.mallocStack[0] == 0 {
		return 0, false
	}
	return uint32(vm.mallocStack[0]), true
}

// read copies size bytes at ptr out of linear memory.
func (vm *VM) read(ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return []byte{}, true
	}
	b, ok := vm.mem.Read(ptr, size)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// view returns linear memory at ptr without copying (valid until the
// module runs again).
func (vm *VM) view(ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return []byte{}, true
	}
	return vm.mem.Read(ptr, size)
}

func (vm *VM) putU32(ptr, v uint32) bool { return vm.mem.WriteUint32Le(ptr, v) }

func (vm *VM) putU64(ptr uint32, v uint64) bool { return vm.mem.WriteUint64Le(ptr, v) }

// copyOut allocates room in the module, copies data there and writes its
// address and size to the two out-parameters, as 4-byte little-endian
// words (proxy-wasm-cpp-host WasmBase::copyToPointerSize). Empty data
// writes address 0 and size 0 without allocating.
func (vm *VM) copyOut(data []byte, ptrPtr, sizePtr uint32) Result {
	var addr uint32
	if len(data) > 0 {
		a, ok := vm.allocate(uint32(len(data)))
		if !ok {
			return ResultInvalidMemoryAccess
		}
		if !vm.mem.Write(a, data) {
			return ResultInvalidMemoryAccess
		}
		addr = a
	}
	if !vm.putU32(ptrPtr, addr) || !vm.putU32(sizePtr, uint32(len(data))) {
		return ResultInvalidMemoryAccess
	}
	return ResultOK
}

// contextOf returns the context host calls act for: the effective context
// when one was set and still exists, else the current one
// (proxy-wasm-cpp-host exports.cc ContextOrEffectiveContext).
func (vm *VM) contextOf() uint32 {
	if vm.effective != 0 {
		if _, ok := vm.roots[vm.effective]; ok {
			return vm.effective
		}
		if _, ok := vm.streams[vm.effective]; ok {
			return vm.effective
		}
	}
	return vm.current
}

// rootOf returns the root context of a context id.
func (vm *VM) rootOf(id uint32) *RootContext {
	if r, ok := vm.roots[id]; ok {
		return r
	}
	if s, ok := vm.streams[id]; ok {
		return s.root
	}
	return nil
}

// PluginConfig is one plugin (an envoy.filters.http.wasm filter) started
// in a VM.
type PluginConfig struct {
	// Name is config.name (property plugin_name).
	Name string
	// RootID is config.root_id.
	RootID string
	// Configuration is the plugin configuration read in on_configure.
	Configuration []byte
}

// RootContext is a plugin's root context in one VM.
type RootContext struct {
	vm     *VM
	id     uint32
	plugin PluginConfig

	tickPeriod time.Duration
	tickStop   chan struct{}

	calloutResponse *CalloutResponse // set during on_http_call_response
	callouts        map[uint32]bool
	redis           *redisState // Higress Redis calls (redis.go)
	inConfigure     bool
	pendingDone     bool
	deleted         bool
}

// ID is the root context's id.
func (r *RootContext) ID() uint32 { return r.id }

// Plugin is the root context's plugin configuration.
func (r *RootContext) Plugin() PluginConfig { return r.plugin }

// VM is the VM the context lives in.
func (r *RootContext) VM() *VM { return r.vm }

// logPrefix is Envoy's PluginBase::makeLogPrefix: " name root_id vm_id".
func (r *RootContext) logPrefix() string {
	p := ""
	for _, s := range []string{r.plugin.Name, r.plugin.RootID, r.vm.cfg.VMID} {
		if s != "" {
			p += " " + s
		}
	}
	return p
}

// StartPlugin creates a root context for the plugin and starts it as
// proxy-wasm-cpp-host does (ContextBase::onStart, then onConfigure):
// proxy_on_context_create(root, 0), proxy_on_vm_start(root, vm config
// size), proxy_on_configure(root, plugin config size). A false answer or a
// trap is an error and the root context is dropped.
func (vm *VM) StartPlugin(p PluginConfig) (*RootContext, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.failed != nil {
		return nil, vm.failed
	}
	r := &RootContext{vm: vm, id: vm.nextContextID, plugin: p, callouts: map[uint32]bool{}}
	vm.nextContextID++
	vm.roots[r.id] = r
	if _, _, err := vm.call(r.id, "proxy_on_context_create", uint64(r.id), 0); err != nil {
		delete(vm.roots, r.id)
		return nil, err
	}
	if res, ok, err := vm.call(r.id, "proxy_on_vm_start", uint64(r.id), uint64(len(vm.cfg.Configuration))); err != nil {
		delete(vm.roots, r.id)
		return nil, err
	} else if ok && uint32(res) == 0 {
		delete(vm.roots, r.id)
		return nil, fmt.Errorf("proxywasm: %s: plugin %q: proxy_on_vm_start returned false (Envoy: Failed to start thread-local Wasm)", vm.cfg.Name, p.Name)
	}
	r.inConfigure = true
	res, ok, err := vm.call(r.id, "proxy_on_configure", uint64(r.id), uint64(len(p.Configuration)))
	r.inConfigure = false
	if err != nil {
		delete(vm.roots, r.id)
		r.stopTicker()
		return nil, err
	}
	if ok && uint32(res) == 0 {
		delete(vm.roots, r.id)
		r.stopTicker()
		return nil, fmt.Errorf("proxywasm: %s: plugin %q: proxy_on_configure returned false (Envoy: Failed to configure thread-local Wasm plugin)", vm.cfg.Name, p.Name)
	}
	return r, nil
}

// Shutdown finishes a root context as proxy-wasm-cpp-host
// WasmBase::startShutdown does: proxy_on_done, then proxy_on_delete when
// it returned true; when it returned false the context waits for the
// module to call proxy_done.
func (r *RootContext) Shutdown() {
	vm := r.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	r.stopTicker()
	if vm.failed != nil || vm.closed || r.deleted {
		return
	}
	res, ok, err := vm.call(r.id, "proxy_on_done", uint64(r.id))
	if err != nil {
		return
	}
	if !ok || uint32(res) != 0 {
		r.deleteLocked()
		return
	}
	r.pendingDone = true
}

func (r *RootContext) deleteLocked() {
	if r.deleted {
		return
	}
	r.deleted = true
	_, _, _ = r.vm.call(r.id, "proxy_on_delete", uint64(r.id))
	delete(r.vm.roots, r.id)
}

// setTickPeriod (re)starts the root context's tick timer; 0 stops it.
// Ticks run on the VM's own goroutine, one call at a time, like Envoy's
// per-worker timer (proxy-wasm-cpp-host ContextBase::setTimerPeriod and
// Envoy's Wasm::tickHandler).
func (r *RootContext) setTickPeriod(d time.Duration) {
	r.stopTicker()
	r.tickPeriod = d
	if d <= 0 {
		return
	}
	stop := make(chan struct{})
	r.tickStop = stop
	vm := r.vm
	vm.tickers.Add(1)
	go func() {
		defer vm.tickers.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				vm.mu.Lock()
				if vm.failed == nil && !vm.closed && !r.deleted && r.tickStop == stop {
					_, _, _ = vm.call(r.id, "proxy_on_tick", uint64(r.id))
				}
				vm.mu.Unlock()
			}
		}
	}()
}

func (r *RootContext) stopTicker() {
	if r.tickStop != nil {
		close(r.tickStop)
		r.tickStop = nil
	}
}

// Tick runs proxy_on_tick once now (for tests that do not want to wait).
func (r *RootContext) Tick() error {
	vm := r.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	_, _, err := vm.call(r.id, "proxy_on_tick", uint64(r.id))
	return err
}

// deliverCallout runs proxy_on_http_call_response for a finished callout
// (Envoy Context::onHttpCallSuccess / onHttpCallFailure: on failure the
// module sees no headers, no body and no trailers).
func (r *RootContext) deliverCallout(token uint32, resp CalloutResponse) {
	vm := r.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if !r.callouts[token] {
		return
	}
	delete(r.callouts, token)
	if vm.failed != nil || vm.closed || r.deleted {
		return
	}
	if resp.Err != nil {
		vm.env.log(LogDebug, fmt.Sprintf("[wasm] http call %d failed: %v", token, resp.Err))
		resp = CalloutResponse{Err: resp.Err}
	}
	r.calloutResponse = &resp
	_, _, _ = vm.call(r.id, "proxy_on_http_call_response", uint64(r.id), uint64(token),
		uint64(len(resp.Headers)), uint64(len(resp.Body)), uint64(len(resp.Trailers)))
	r.calloutResponse = nil
}

// deliverQueueReady runs proxy_on_queue_ready on the registering context.
func (vm *VM) deliverQueueReady(contextID, token uint32) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.failed != nil || vm.closed {
		return
	}
	if vm.rootOf(contextID) == nil {
		return
	}
	_, _, _ = vm.call(contextID, "proxy_on_queue_ready", uint64(contextID), uint64(token))
}

// appendPairs appends pairs to dst in the pairs serialisation
// (proxy-wasm-cpp-host exports.h marshalPairs / exports.cc toPairs): u32
// count, then per pair u32 key size and u32 value size, then per pair key
// bytes, NUL, value bytes, NUL. No pairs append nothing.
func appendPairs(dst []byte, pairs [][2]string) []byte {
	if len(pairs) == 0 {
		return dst
	}
	size := 4
	for _, p := range pairs {
		size += 8 + len(p[0]) + 1 + len(p[1]) + 1
	}
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	b := dst[start:]
	binary.LittleEndian.PutUint32(b, uint32(len(pairs)))
	off := 4
	for _, p := range pairs {
		binary.LittleEndian.PutUint32(b[off:], uint32(len(p[0])))
		binary.LittleEndian.PutUint32(b[off+4:], uint32(len(p[1])))
		off += 8
	}
	for _, p := range pairs {
		off += copy(b[off:], p[0])
		b[off] = 0
		off++
		off += copy(b[off:], p[1])
		b[off] = 0
		off++
	}
	return dst
}

// unmarshalPairs parses the pairs format; malformed input gives no pairs,
// as toPairs does.
func unmarshalPairs(b []byte) [][2]string {
	if len(b) < 4 {
		return nil
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	if 4+n*8 > uint64(len(b)) {
		return nil
	}
	// One string holds every name and value; the pairs are its substrings.
	text := string(b[4+n*8:])
	out := make([][2]string, n)
	off := uint64(0)
	for i := range out {
		sizes := b[4+8*i:]
		k, v := uint64(binary.LittleEndian.Uint32(sizes)), uint64(binary.LittleEndian.Uint32(sizes[4:]))
		if off+k+1+v+1 > uint64(len(text)) {
			return nil
		}
		out[i] = [2]string{text[off : off+k], text[off+k+1 : off+k+1+v]}
		off += k + 1 + v + 1
	}
	return out
}
