// Project glue for github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0, copied
// into the SDK's proxywasm/internal package at build time (see README.md in
// filter/wasmbuild/_glue of github.com/mcp-ratelimit/mcp-ratelimit-wasm).
//
// The SDK declares its host calls as bodiless `//export` functions in
// abi_hostcalls.go, which only TinyGo understands (`//go:build tinygo`). Under
// standard Go the SDK builds abi_hostcalls_mock.go instead, which forwards
// every host call to a registered ProxyWasmHost. This file supplies that
// ProxyWasmHost for GOOS=wasip1: each method calls the matching
// `//go:wasmimport env proxy_*` function of the proxy-wasm ABI 0.2.x, as
// Envoy's host (proxy-wasm-cpp-host, include/proxy-wasm/exports.h) provides it.

//go:build wasip1 && !tinygo

package internal

import "unsafe"

// Out-parameters. The host writes 4-byte wasm32 addresses and sizes, while Go
// pointers and ints are 8 bytes, so every out-parameter is first written by
// the host into one of these zeroed slots and then copied, with ordinary Go
// code, into the caller's variable.
//
// The slots are package variables on purpose: their addresses never move.
// The address of a stack variable could go stale while the host holds it,
// because the host may call back into the module (proxy_on_memory_allocate)
// in the middle of a host call and that call may grow, and so move, the
// goroutine's stack. Only proxy_on_memory_allocate re-enters during a host
// call and it makes no host call itself, so one set of slots is enough.
//
// glueReturnedData is a pointer slot: the host writes the low 4 bytes of it
// (wasm is little-endian) and the high 4 bytes stay zero, which yields a valid
// Go pointer to the memory the host obtained from proxy_on_memory_allocate
// without any uintptr-to-pointer conversion.
var (
	glueReturnedData   *byte
	glueReturnedSize   uint32
	glueReturnedUint32 uint32
	glueReturnedUint64 uint64
)

//go:wasmimport env proxy_log
func glueProxyLog(logLevel uint32, messageData unsafe.Pointer, messageSize uint32) uint32

//go:wasmimport env proxy_set_property
func glueProxySetProperty(pathData unsafe.Pointer, pathSize uint32, valueData unsafe.Pointer, valueSize uint32) uint32

//go:wasmimport env proxy_get_property
func glueProxyGetProperty(pathData unsafe.Pointer, pathSize uint32, returnValueData, returnValueSize unsafe.Pointer) uint32

//go:wasmimport env proxy_send_local_response
func glueProxySendLocalResponse(statusCode uint32, statusCodeDetailData unsafe.Pointer, statusCodeDetailsSize uint32,
	bodyData unsafe.Pointer, bodySize uint32, headersData unsafe.Pointer, headersSize uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_get_shared_data
func glueProxyGetSharedData(keyData unsafe.Pointer, keySize uint32, returnValueData, returnValueSize, returnCas unsafe.Pointer) uint32

//go:wasmimport env proxy_set_shared_data
func glueProxySetSharedData(keyData unsafe.Pointer, keySize uint32, valueData unsafe.Pointer, valueSize uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func glueProxyRegisterSharedQueue(nameData unsafe.Pointer, nameSize uint32, returnID unsafe.Pointer) uint32

//go:wasmimport env proxy_resolve_shared_queue
func glueProxyResolveSharedQueue(vmIDData unsafe.Pointer, vmIDSize uint32, nameData unsafe.Pointer, nameSize uint32, returnID unsafe.Pointer) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func glueProxyDequeueSharedQueue(queueID uint32, returnValueData, returnValueSize unsafe.Pointer) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func glueProxyEnqueueSharedQueue(queueID uint32, valueData unsafe.Pointer, valueSize uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func glueProxyGetHeaderMapValue(mapType uint32, keyData unsafe.Pointer, keySize uint32, returnValueData, returnValueSize unsafe.Pointer) uint32

//go:wasmimport env proxy_add_header_map_value
func glueProxyAddHeaderMapValue(mapType uint32, keyData unsafe.Pointer, keySize uint32, valueData unsafe.Pointer, valueSize uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func glueProxyReplaceHeaderMapValue(mapType uint32, keyData unsafe.Pointer, keySize uint32, valueData unsafe.Pointer, valueSize uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func glueProxyRemoveHeaderMapValue(mapType uint32, keyData unsafe.Pointer, keySize uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func glueProxyGetHeaderMapPairs(mapType uint32, returnValueData, returnValueSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_header_map_pairs
func glueProxySetHeaderMapPairs(mapType uint32, mapData unsafe.Pointer, mapSize uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func glueProxyGetBufferBytes(bufferType, start, maxSize uint32, returnBufferData, returnBufferSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_buffer_bytes
func glueProxySetBufferBytes(bufferType, start, maxSize uint32, bufferData unsafe.Pointer, bufferSize uint32) uint32

//go:wasmimport env proxy_continue_stream
func glueProxyContinueStream(streamType uint32) uint32

//go:wasmimport env proxy_close_stream
func glueProxyCloseStream(streamType uint32) uint32

//go:wasmimport env proxy_http_call
func glueProxyHttpCall(upstreamData unsafe.Pointer, upstreamSize uint32, headerData unsafe.Pointer, headerSize uint32,
	bodyData unsafe.Pointer, bodySize uint32, trailersData unsafe.Pointer, trailersSize uint32, timeout uint32,
	calloutIDPtr unsafe.Pointer) uint32

//go:wasmimport env proxy_call_foreign_function
func glueProxyCallForeignFunction(funcNameData unsafe.Pointer, funcNameSize uint32, paramData unsafe.Pointer, paramSize uint32,
	returnData, returnSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func glueProxySetTickPeriodMilliseconds(period uint32) uint32

//go:wasmimport env proxy_set_effective_context
func glueProxySetEffectiveContext(contextID uint32) uint32

//go:wasmimport env proxy_done
func glueProxyDone() uint32

//go:wasmimport env proxy_define_metric
func glueProxyDefineMetric(metricType uint32, metricNameData unsafe.Pointer, metricNameSize uint32, returnMetricID unsafe.Pointer) uint32

//go:wasmimport env proxy_increment_metric
func glueProxyIncrementMetric(metricID uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func glueProxyRecordMetric(metricID uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func glueProxyGetMetric(metricID uint32, returnMetricValue unsafe.Pointer) uint32

// glueWasmHost is the ProxyWasmHost of a module built for GOOS=wasip1: it
// turns each SDK host call into the proxy-wasm import of the same name.
// Sizes and offsets are passed as the ABI's 32-bit words.
type glueWasmHost struct{}

var _ ProxyWasmHost = glueWasmHost{}

// init registers the wasm host before any other package's init runs (this
// package is imported by proxywasm, which the plugin imports), so even a
// host call made from a plugin's init reaches the real host.
func init() {
	// The returned release function only unlocks the mock's mutex; the
	// module has one thread and keeps this host for its whole life.
	_ = RegisterMockWasmHost(glueWasmHost{})
}

// glueResetReturned zeroes the out-parameter slots before a host call.
func glueResetReturned() {
	glueReturnedData = nil
	glueReturnedSize = 0
	glueReturnedUint32 = 0
	glueReturnedUint64 = 0
}

// glueTakeReturnedBytes copies the data slots into the caller's variables
// and clears the pointer slot so it keeps nothing alive.
func glueTakeReturnedBytes(returnData **byte, returnSize *int) {
	*returnData = glueReturnedData
	*returnSize = int(glueReturnedSize)
	glueReturnedData = nil
}

func (glueWasmHost) ProxyLog(logLevel LogLevel, messageData *byte, messageSize int) Status {
	return Status(glueProxyLog(uint32(logLevel), unsafe.Pointer(messageData), uint32(messageSize)))
}

func (glueWasmHost) ProxySetProperty(pathData *byte, pathSize int, valueData *byte, valueSize int) Status {
	return Status(glueProxySetProperty(unsafe.Pointer(pathData), uint32(pathSize), unsafe.Pointer(valueData), uint32(valueSize)))
}

func (glueWasmHost) ProxyGetProperty(pathData *byte, pathSize int, returnValueData **byte, returnValueSize *int) Status {
	glueResetReturned()
	st := glueProxyGetProperty(unsafe.Pointer(pathData), uint32(pathSize),
		unsafe.Pointer(&glueReturnedData), unsafe.Pointer(&glueReturnedSize))
	glueTakeReturnedBytes(returnValueData, returnValueSize)
	return Status(st)
}

func (glueWasmHost) ProxySendLocalResponse(statusCode uint32, statusCodeDetailData *byte, statusCodeDetailsSize int,
	bodyData *byte, bodySize int, headersData *byte, headersSize int, grpcStatus int32) Status {
	return Status(glueProxySendLocalResponse(statusCode, unsafe.Pointer(statusCodeDetailData), uint32(statusCodeDetailsSize),
		unsafe.Pointer(bodyData), uint32(bodySize), unsafe.Pointer(headersData), uint32(headersSize), grpcStatus))
}

func (glueWasmHost) ProxyGetSharedData(keyData *byte, keySize int, returnValueData **byte, returnValueSize *int, returnCas *uint32) Status {
	glueResetReturned()
	st := glueProxyGetSharedData(unsafe.Pointer(keyData), uint32(keySize),
		unsafe.Pointer(&glueReturnedData), unsafe.Pointer(&glueReturnedSize), unsafe.Pointer(&glueReturnedUint32))
	glueTakeReturnedBytes(returnValueData, returnValueSize)
	*returnCas = glueReturnedUint32
	return Status(st)
}

func (glueWasmHost) ProxySetSharedData(keyData *byte, keySize int, valueData *byte, valueSize int, cas uint32) Status {
	return Status(glueProxySetSharedData(unsafe.Pointer(keyData), uint32(keySize), unsafe.Pointer(valueData), uint32(valueSize), cas))
}

func (glueWasmHost) ProxyRegisterSharedQueue(nameData *byte, nameSize int, returnID *uint32) Status {
	glueResetReturned()
	st := glueProxyRegisterSharedQueue(unsafe.Pointer(nameData), uint32(nameSize), unsafe.Pointer(&glueReturnedUint32))
	*returnID = glueReturnedUint32
	return Status(st)
}

func (glueWasmHost) ProxyResolveSharedQueue(vmIDData *byte, vmIDSize int, nameData *byte, nameSize int, returnID *uint32) Status {
	glueResetReturned()
	st := glueProxyResolveSharedQueue(unsafe.Pointer(vmIDData), uint32(vmIDSize), unsafe.Pointer(nameData), uint32(nameSize),
		unsafe.Pointer(&glueReturnedUint32))
	*returnID = glueReturnedUint32
	return Status(st)
}

func (glueWasmHost) ProxyDequeueSharedQueue(queueID uint32, returnValueData **byte, returnValueSize *int) Status {
	glueResetReturned()
	st := glueProxyDequeueSharedQueue(queueID, unsafe.Pointer(&glueReturnedData), unsafe.Pointer(&glueReturnedSize))
	glueTakeReturnedBytes(returnValueData, returnValueSize)
	return Status(st)
}

func (glueWasmHost) ProxyEnqueueSharedQueue(queueID uint32, valueData *byte, valueSize int) Status {
	return Status(glueProxyEnqueueSharedQueue(queueID, unsafe.Pointer(valueData), uint32(valueSize)))
}

func (glueWasmHost) ProxyGetHeaderMapValue(mapType MapType, keyData *byte, keySize int, returnValueData **byte, returnValueSize *int) Status {
	glueResetReturned()
	st := glueProxyGetHeaderMapValue(uint32(mapType), unsafe.Pointer(keyData), uint32(keySize),
		unsafe.Pointer(&glueReturnedData), unsafe.Pointer(&glueReturnedSize))
	glueTakeReturnedBytes(returnValueData, returnValueSize)
	return Status(st)
}

func (glueWasmHost) ProxyAddHeaderMapValue(mapType MapType, keyData *byte, keySize int, valueData *byte, valueSize int) Status {
	return Status(glueProxyAddHeaderMapValue(uint32(mapType), unsafe.Pointer(keyData), uint32(keySize), unsafe.Pointer(valueData), uint32(valueSize)))
}

func (glueWasmHost) ProxyReplaceHeaderMapValue(mapType MapType, keyData *byte, keySize int, valueData *byte, valueSize int) Status {
	return Status(glueProxyReplaceHeaderMapValue(uint32(mapType), unsafe.Pointer(keyData), uint32(keySize), unsafe.Pointer(valueData), uint32(valueSize)))
}

func (glueWasmHost) ProxyContinueStream(streamType StreamType) Status {
	return Status(glueProxyContinueStream(uint32(streamType)))
}

func (glueWasmHost) ProxyCloseStream(streamType StreamType) Status {
	return Status(glueProxyCloseStream(uint32(streamType)))
}

func (glueWasmHost) ProxyRemoveHeaderMapValue(mapType MapType, keyData *byte, keySize int) Status {
	return Status(glueProxyRemoveHeaderMapValue(uint32(mapType), unsafe.Pointer(keyData), uint32(keySize)))
}

func (glueWasmHost) ProxyGetHeaderMapPairs(mapType MapType, returnValueData **byte, returnValueSize *int) Status {
	glueResetReturned()
	st := glueProxyGetHeaderMapPairs(uint32(mapType), unsafe.Pointer(&glueReturnedData), unsafe.Pointer(&glueReturnedSize))
	glueTakeReturnedBytes(returnValueData, returnValueSize)
	return Status(st)
}

func (glueWasmHost) ProxySetHeaderMapPairs(mapType MapType, mapData *byte, mapSize int) Status {
	return Status(glueProxySetHeaderMapPairs(uint32(mapType), unsafe.Pointer(mapData), uint32(mapSize)))
}

func (glueWasmHost) ProxyGetBufferBytes(bufferType BufferType, start int, maxSize int, returnBufferData **byte, returnBufferSize *int) Status {
	glueResetReturned()
	st := glueProxyGetBufferBytes(uint32(bufferType), glueWord(start), glueWord(maxSize),
		unsafe.Pointer(&glueReturnedData), unsafe.Pointer(&glueReturnedSize))
	glueTakeReturnedBytes(returnBufferData, returnBufferSize)
	return Status(st)
}

func (glueWasmHost) ProxySetBufferBytes(bufferType BufferType, start int, maxSize int, bufferData *byte, bufferSize int) Status {
	return Status(glueProxySetBufferBytes(uint32(bufferType), glueWord(start), glueWord(maxSize), unsafe.Pointer(bufferData), uint32(bufferSize)))
}

func (glueWasmHost) ProxyHttpCall(upstreamData *byte, upstreamSize int, headerData *byte, headerSize int, bodyData *byte,
	bodySize int, trailersData *byte, trailersSize int, timeout uint32, calloutIDPtr *uint32) Status {
	glueResetReturned()
	st := glueProxyHttpCall(unsafe.Pointer(upstreamData), uint32(upstreamSize), unsafe.Pointer(headerData), uint32(headerSize),
		unsafe.Pointer(bodyData), uint32(bodySize), unsafe.Pointer(trailersData), uint32(trailersSize), timeout,
		unsafe.Pointer(&glueReturnedUint32))
	*calloutIDPtr = glueReturnedUint32
	return Status(st)
}

func (glueWasmHost) ProxyCallForeignFunction(funcNamePtr *byte, funcNameSize int, paramPtr *byte, paramSize int, returnData **byte, returnSize *int) Status {
	glueResetReturned()
	st := glueProxyCallForeignFunction(unsafe.Pointer(funcNamePtr), uint32(funcNameSize), unsafe.Pointer(paramPtr), uint32(paramSize),
		unsafe.Pointer(&glueReturnedData), unsafe.Pointer(&glueReturnedSize))
	glueTakeReturnedBytes(returnData, returnSize)
	return Status(st)
}

func (glueWasmHost) ProxySetTickPeriodMilliseconds(period uint32) Status {
	return Status(glueProxySetTickPeriodMilliseconds(period))
}

func (glueWasmHost) ProxySetEffectiveContext(contextID uint32) Status {
	return Status(glueProxySetEffectiveContext(contextID))
}

func (glueWasmHost) ProxyDone() Status {
	return Status(glueProxyDone())
}

func (glueWasmHost) ProxyDefineMetric(metricType MetricType, metricNameData *byte, metricNameSize int, returnMetricIDPtr *uint32) Status {
	glueResetReturned()
	st := glueProxyDefineMetric(uint32(metricType), unsafe.Pointer(metricNameData), uint32(metricNameSize), unsafe.Pointer(&glueReturnedUint32))
	*returnMetricIDPtr = glueReturnedUint32
	return Status(st)
}

func (glueWasmHost) ProxyIncrementMetric(metricID uint32, offset int64) Status {
	return Status(glueProxyIncrementMetric(metricID, offset))
}

func (glueWasmHost) ProxyRecordMetric(metricID uint32, value uint64) Status {
	return Status(glueProxyRecordMetric(metricID, value))
}

func (glueWasmHost) ProxyGetMetric(metricID uint32, returnMetricValue *uint64) Status {
	glueResetReturned()
	st := glueProxyGetMetric(metricID, unsafe.Pointer(&glueReturnedUint64))
	*returnMetricValue = glueReturnedUint64
	return Status(st)
}

// glueWord converts an SDK offset or length to the ABI's unsigned 32-bit
// word. The SDK passes math.MaxInt32 for "to the end of the buffer"; values
// outside the word's range (negative or above 2^32-1) saturate to the
// nearest bound instead of wrapping around to a different, valid-looking
// offset.
func glueWord(v int) uint32 {
	switch {
	case v < 0:
		return 0
	case uint64(v) > 0xFFFFFFFF:
		return 0xFFFFFFFF
	default:
		return uint32(v)
	}
}
