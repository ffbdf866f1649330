// Project glue for github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0, copied
// into the SDK's proxywasm/internal package at build time (see README.md in
// filter/wasmbuild/_glue of github.com/mcp-ratelimit/mcp-ratelimit-wasm).
//
// The SDK marks its callbacks (abi_callback_*.go) with TinyGo's `//export`
// comments, which standard Go ignores. This file exports each of them under
// its proxy-wasm ABI 0.2.0 name with `//go:wasmexport`, converting between
// the ABI's 32-bit words and the SDK's Go types. Every callback the SDK
// implements is here; the SDK has no gRPC or foreign-function callbacks
// (proxy_on_grpc_*, proxy_on_foreign_function), so neither has this file.
//
// `//go:wasmexport` accepts only fixed-size scalar types, so sizes arrive as
// uint32 and booleans as uint32 (0 = false, anything else = true, as the
// host may pass any non-zero word for "true").

//go:build wasip1 && !tinygo

package internal

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// glueBool converts an ABI boolean word to a Go bool.
func glueBool(w uint32) bool { return w != 0 }

// glueWordFromBool converts a Go bool to an ABI boolean word.
func glueWordFromBool(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// glueABIVersion is the marker by which the host recognises ABI 0.2.0
// (proxy-wasm-cpp-host src/bytecode_util.cc looks for this export name).
//
//go:wasmexport proxy_abi_version_0_2_0
func glueABIVersion() { proxyABIVersion() }

// glueOnMemoryAllocate hands the host a buffer of size bytes in the
// module's memory. The buffer is an ordinary Go allocation: Go's garbage
// collector does not move objects, and the host writes the buffer's address
// into a Go variable (see glue_hostcalls_wasip1.go) before the host call
// that asked for it returns, after which that variable keeps it alive.
// A zero-size request gets a valid one-byte buffer rather than a panic.
//
// When glueHostBuffer is long enough, the first allocation takes it
// instead (and clears it), so that a module which makes its own host calls
// can have their data copied into memory it reuses rather than into
// garbage; see glueHostBuffer.
//
//go:wasmexport proxy_on_memory_allocate
func glueOnMemoryAllocate(size uint32) unsafe.Pointer {
	if size == 0 {
		size = 1
	}
	if b := glueHostBuffer; uint64(size) <= uint64(len(b)) {
		glueHostBuffer = nil
		return unsafe.Pointer(&b[0])
	}
	return unsafe.Pointer(proxyOnMemoryAllocate(uint(size)))
}

// glueHostBuffer is memory the module lends the host for its next
// allocation, nil otherwise. The SDK never sets it. A module that reads
// host data itself (a header map, a body) sets it, through go:linkname,
// just before a host call whose data it consumes before lending the buffer
// again, and clears it just after; a request larger than the buffer, or
// any other allocation, gets fresh memory as usual.
var glueHostBuffer []byte

//go:wasmexport proxy_on_vm_start
func glueOnVMStart(rootContextID, vmConfigurationSize uint32) uint32 {
	return glueWordFromBool(bool(proxyOnVMStart(rootContextID, int(vmConfigurationSize))))
}

//go:wasmexport proxy_on_configure
func glueOnConfigure(rootContextID, pluginConfigurationSize uint32) uint32 {
	return glueWordFromBool(bool(proxyOnConfigure(rootContextID, int(pluginConfigurationSize))))
}

//go:wasmexport proxy_on_context_create
func glueOnContextCreate(contextID, parentContextID uint32) {
	proxyOnContextCreate(contextID, parentContextID)
}

//go:wasmexport proxy_on_log
func glueOnLog(contextID uint32) { proxyOnLog(contextID) }

//go:wasmexport proxy_on_done
func glueOnDone(contextID uint32) uint32 { return glueWordFromBool(proxyOnDone(contextID)) }

//go:wasmexport proxy_on_delete
func glueOnDelete(contextID uint32) { proxyOnDelete(contextID) }

//go:wasmexport proxy_on_tick
func glueOnTick(rootContextID uint32) { proxyOnTick(rootContextID) }

//go:wasmexport proxy_on_queue_ready
func glueOnQueueReady(rootContextID, queueID uint32) { proxyOnQueueReady(rootContextID, queueID) }

//go:wasmexport proxy_on_request_headers
func glueOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	return uint32(proxyOnRequestHeaders(contextID, int(numHeaders), glueBool(endOfStream)))
}

//go:wasmexport proxy_on_request_body
func glueOnRequestBody(contextID, bodySize, endOfStream uint32) uint32 {
	return uint32(proxyOnRequestBody(contextID, int(bodySize), glueBool(endOfStream)))
}

//go:wasmexport proxy_on_request_trailers
func glueOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(proxyOnRequestTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_response_headers
func glueOnResponseHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	return uint32(proxyOnResponseHeaders(contextID, int(numHeaders), glueBool(endOfStream)))
}

//go:wasmexport proxy_on_response_body
func glueOnResponseBody(contextID, bodySize, endOfStream uint32) uint32 {
	return uint32(proxyOnResponseBody(contextID, int(bodySize), glueBool(endOfStream)))
}

//go:wasmexport proxy_on_response_trailers
func glueOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(proxyOnResponseTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_http_call_response
func glueOnHttpCallResponse(rootContextID, calloutID, numHeaders, bodySize, numTrailers uint32) {
	if glueDeliverOrphanedCallouts {
		glueAdoptOrphanedCallout(rootContextID, calloutID)
	}
	proxyOnHttpCallResponse(rootContextID, calloutID, int(numHeaders), int(bodySize), int(numTrailers))
}

// glueDeliverOrphanedCallouts, when true, hands the response of a callout
// whose calling context has been deleted to its callback anyway, with the
// plugin context effective. The host keeps a callout on the plugin context
// and answers it after the stream that sent it ended
// (proxy-wasm-cpp-host src/exports.cc, http_call); the SDK drops such an
// answer (proxyOnHttpCallResponse), so a callback never learns how its
// call ended. The SDK never sets it. A module whose callbacks check for
// themselves whether their stream still exists sets it through
// go:linkname (the filter: filter/hostcalls_wasip1.go).
var glueDeliverOrphanedCallouts bool

// glueAdoptOrphanedCallout makes the plugin context the caller of callout
// calloutID when the context that sent it has been deleted, so that
// proxyOnHttpCallResponse calls its callback.
func glueAdoptOrphanedCallout(rootContextID, calloutID uint32) {
	root, ok := currentState.pluginContexts[rootContextID]
	if !ok {
		return
	}
	callout := root.httpCallbacks[calloutID]
	if callout == nil {
		return
	}
	if _, alive := currentState.contextIDToRootID[callout.callerContextID]; !alive {
		callout.callerContextID = rootContextID
	}
}

//go:wasmexport proxy_on_new_connection
func glueOnNewConnection(contextID uint32) uint32 {
	return uint32(proxyOnNewConnection(contextID))
}

//go:wasmexport proxy_on_downstream_data
func glueOnDownstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(proxyOnDownstreamData(contextID, int(dataSize), glueBool(endOfStream)))
}

//go:wasmexport proxy_on_downstream_connection_close
func glueOnDownstreamConnectionClose(contextID, peerType uint32) {
	proxyOnDownstreamConnectionClose(contextID, types.PeerType(peerType))
}

//go:wasmexport proxy_on_upstream_data
func glueOnUpstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(proxyOnUpstreamData(contextID, int(dataSize), glueBool(endOfStream)))
}

//go:wasmexport proxy_on_upstream_connection_close
func glueOnUpstreamConnectionClose(contextID, peerType uint32) {
	proxyOnUpstreamConnectionClose(contextID, types.PeerType(peerType))
}
