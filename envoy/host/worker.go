package host

import (
	"context"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// worker is one Envoy worker thread's share of the host: one VM per VM key
// and one root context per plugin, all cloned from the compiled modules.
type worker struct {
	h     *hostImpl
	index int

	mu     sync.Mutex
	vms    map[string]*vmInstance // by VM key
	roots  map[int]*proxywasm.RootContext
	failAt map[string]time.Time // when a VM key failed (FAIL_RELOAD backoff)
}

type vmInstance struct {
	vm *proxywasm.VM
}

func (h *hostImpl) newWorker(index int) (*worker, error) {
	w := &worker{h: h, index: index, vms: map[string]*vmInstance{}, roots: map[int]*proxywasm.RootContext{}, failAt: map[string]time.Time{}}
	for _, slot := range h.filters {
		if slot == nil {
			continue
		}
		root, err := w.startPlugin(slot, slot.plugin)
		if err != nil {
			w.close()
			return nil, err
		}
		w.roots[slot.index] = root
	}
	return w, nil
}

func (w *worker) profileName() string {
	for _, slot := range w.h.filters {
		if slot != nil {
			return slot.runtime.Profile().Name
		}
	}
	return "-"
}

// vmFor returns the worker's VM for a filter, creating it on first use.
func (w *worker) vmFor(slot *filterSlot) (*proxywasm.VM, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if inst, ok := w.vms[slot.vmKey]; ok {
		return inst.vm, nil
	}
	vm, err := slot.runtime.NewVM(context.Background(), w.h.env, proxywasm.VMConfig{
		VMID:          slot.wasm.VMID,
		Configuration: slot.wasm.VMConfiguration,
		Env:           slot.wasm.Env,
		Name:          fmt.Sprintf("worker %d", w.index),
	})
	if err != nil {
		return nil, err
	}
	w.vms[slot.vmKey] = &vmInstance{vm: vm}
	return vm, nil
}

// startPlugin starts a plugin's root context in the worker's VM.
func (w *worker) startPlugin(slot *filterSlot, plugin proxywasm.PluginConfig) (*proxywasm.RootContext, error) {
	vm, err := w.vmFor(slot)
	if err != nil {
		return nil, fmt.Errorf("filter %s: %w", slot.wasm.PluginName, err)
	}
	root, err := vm.StartPlugin(plugin)
	if err != nil {
		return nil, fmt.Errorf("filter %s: %w", slot.wasm.PluginName, err)
	}
	return root, nil
}

func (w *worker) swapRoot(slot *filterSlot, root *proxywasm.RootContext) *proxywasm.RootContext {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.roots[slot.index]
	w.roots[slot.index] = root
	return old
}

func (w *worker) root(slot *filterSlot) *proxywasm.RootContext {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.roots[slot.index]
}

// reload replaces a failed VM with a new one and restarts its plugins
// (FAIL_RELOAD: "New plugin instance will be created for the new request
// if the VM is failed", envoy/extensions/wasm/v3/wasm.proto), at most once
// per backoff interval.
func (w *worker) reload(slot *filterSlot) bool {
	w.mu.Lock()
	inst := w.vms[slot.vmKey]
	if inst == nil || inst.vm.Failed() == nil {
		w.mu.Unlock()
		return true
	}
	failedAt, seen := w.failAt[slot.vmKey]
	now := time.Now()
	if !seen {
		w.failAt[slot.vmKey] = now
		failedAt = now
	}
	if seen && now.Sub(failedAt) < slot.wasm.ReloadBackoff {
		w.mu.Unlock()
		return false
	}
	old := inst.vm
	delete(w.vms, slot.vmKey)
	delete(w.failAt, slot.vmKey)
	w.mu.Unlock()
	old.Close()
	for _, s := range w.h.filters {
		if s == nil || s.vmKey != slot.vmKey {
			continue
		}
		root, err := w.startPlugin(s, s.plugin)
		if err != nil {
			w.h.logger.logf(proxywasm.LogError, "[wasm] worker %d: reload of %s failed: %v", w.index, s.wasm.PluginName, err)
			w.mu.Lock()
			w.failAt[slot.vmKey] = time.Now()
			w.mu.Unlock()
			return false
		}
		w.swapRoot(s, root)
	}
	w.h.logger.logf(proxywasm.LogInfo, "[wasm] worker %d: VM %s reloaded after a failure", w.index, slot.wasm.PluginName)
	return true
}

// filtersFor builds the HTTP filters of one stream on this worker,
// applying each plugin's failure policy when its VM has failed (Envoy
// source/extensions/filters/http/wasm/wasm_filter.cc: FAIL_OPEN skips the
// filter, FAIL_CLOSED answers 503, FAIL_RELOAD recreates the VM).
func (w *worker) filtersFor(props proxywasm.StreamProps) []filterchain.Filter {
	var out []filterchain.Filter
	for _, slot := range w.h.filters {
		if slot == nil {
			continue
		}
		root := w.root(slot)
		failed := root == nil || root.VM().Failed() != nil
		if failed {
			switch slot.wasm.FailurePolicy {
			case envoyconfig.FailOpen:
				continue
			case envoyconfig.FailReload:
				if w.reload(slot) {
					root = w.root(slot)
					failed = root == nil || root.VM().Failed() != nil
				}
			}
		}
		if failed {
			out = append(out, &failClosedFilter{})
			continue
		}
		st := root.NewStream(props)
		st.FailOpen = slot.wasm.FailurePolicy == envoyconfig.FailOpen
		out = append(out, st)
	}
	return out
}

func (w *worker) shutdown() {
	w.mu.Lock()
	roots := make([]*proxywasm.RootContext, 0, len(w.roots))
	for _, r := range w.roots {
		roots = append(roots, r)
	}
	w.mu.Unlock()
	for _, r := range roots {
		r.Shutdown()
	}
}

func (w *worker) close() {
	w.mu.Lock()
	vms := w.vms
	w.vms = map[string]*vmInstance{}
	w.mu.Unlock()
	for _, inst := range vms {
		inst.vm.Close()
	}
}

// failClosedFilter stands for a plugin whose VM failed under FAIL_CLOSED:
// every request gets 503 (details wasm_fail_stream).
type failClosedFilter struct {
	dec filterchain.DecoderCallbacks
}

func (f *failClosedFilter) SetCallbacks(dec filterchain.DecoderCallbacks, _ filterchain.EncoderCallbacks) {
	f.dec = dec
}

func (f *failClosedFilter) DecodeHeaders(*filterchain.HeaderMap, bool) filterchain.HeadersStatus {
	f.dec.SendLocalReply(filterchain.LocalReply{Status: 503, Details: proxywasm.FailStreamDetails})
	return filterchain.HeadersStopAllIterationAndWatermark
}

func (f *failClosedFilter) DecodeData(*filterchain.Buffer, bool) filterchain.DataStatus {
	return filterchain.DataStopIterationNoBuffer
}

func (f *failClosedFilter) DecodeTrailers(*filterchain.HeaderMap) filterchain.TrailersStatus {
	return filterchain.TrailersStopIteration
}

func (f *failClosedFilter) EncodeHeaders(*filterchain.HeaderMap, bool) filterchain.HeadersStatus {
	return filterchain.HeadersContinue
}

func (f *failClosedFilter) EncodeData(*filterchain.Buffer, bool) filterchain.DataStatus {
	return filterchain.DataContinue
}

func (f *failClosedFilter) EncodeTrailers(*filterchain.HeaderMap) filterchain.TrailersStatus {
	return filterchain.TrailersContinue
}

func (f *failClosedFilter) Log(*filterchain.StreamInfo) {}

func (f *failClosedFilter) OnDestroy() {}

// stdLogger adapts the host logger for net/http's ErrorLog.
func (l *logger) stdLogger(prefix string) *log.Logger {
	return log.New(writerFunc(func(p []byte) (int, error) {
		l.line(proxywasm.LogDebug, prefix+strings.TrimRight(string(p), "\n"))
		return len(p), nil
	}), "", 0)
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
