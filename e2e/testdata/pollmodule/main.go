// Command pollmodule is the smallest proxy-wasm module that does what
// ordinary Go code does to the runtime: at plugin start it arms a runtime
// timer (time.AfterFunc), which initialises Go's network poller, and every
// request allocates enough to run the garbage collector often. Built with
// the stock Go toolchain (no runtime patch), it dies at a garbage
// collection when poll_oneoff answers ENOSYS, as Envoy 1.33 to 1.38 answer
// (golang/go#78513, proxy-wasm-cpp-host#533), and lives when it answers
// success with zero events (Envoy 1.39). TestRuntimeScenarios runs it on
// wazero and on V8 (testdata/scenarios-runtime.json).
//
// It imports nothing but WASI, so both hosts load it.
package main

import (
	"time"
	"unsafe"
)

func main() {}

var (
	timer *time.Timer
	sink  [][]byte
)

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) unsafe.Pointer {
	b := make([]byte, size+1)
	return unsafe.Pointer(&b[0])
}

//go:wasmexport proxy_on_context_create
func onContextCreate(contextID, parentID uint32) {}

//go:wasmexport proxy_on_vm_start
func onVMStart(contextID, size uint32) bool { return true }

//go:wasmexport proxy_on_configure
func onConfigure(contextID, size uint32) bool {
	timer = time.AfterFunc(time.Hour, func() {})
	return true
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(contextID, headers, endOfStream uint32) uint32 {
	for range 16 {
		sink = append(sink, make([]byte, 64<<10))
	}
	if len(sink) > 64 {
		sink = sink[:0]
	}
	return 0
}

//go:wasmexport proxy_on_done
func onDone(contextID uint32) bool { return true }

//go:wasmexport proxy_on_log
func onLog(contextID uint32) {}

//go:wasmexport proxy_on_delete
func onDelete(contextID uint32) {}
