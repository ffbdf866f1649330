//go:build wasip1

// Command hostfloor is the second baseline of the filter's benchmarks: a
// proxy-wasm plugin, built like the filter, that makes exactly the host
// calls the filter makes on a request with one shared bucket, in the same
// way (its own imports, data read into memory it lends the host), and
// does no other work: it does not parse the body, compute a bucket or
// build a reply; its only other work is one search of the body. Run in
// the filter's place against the no-op plugin (BenchmarkHostFloorVsNoop,
// see docs/benchmarks.md), its ratio is the part of the filter's cost
// that any filter making those calls pays; the rest of the filter's ratio
// is the filter's own code.
//
// The calls it makes, by request:
//   - a request without a body (the SSE GET): the :method header;
//   - a POST: the header map, then at the end of the body the body;
//   - a body holding the text "tools/call": the clock, the bucket's
//     shared-data value; admitted, the value written back and the
//     admitted counter incremented; rejected, the rejected and the
//     rejected_shared counters incremented and a 429 with a JSON-RPC error
//     body (of a fixed text) and the filter's rejection headers.
//
// It admits a call while the calls admitted so far (the shared value)
// number fewer than the first number after "maxTokens": in its plugin
// configuration, so that under the benchmarks' configurations of the
// filter it answers each request as the filter does.
package main

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

//go:wasmimport env proxy_get_header_map_value
func hostGetHeaderMapValue(mapType uint32, keyData unsafe.Pointer, keySize uint32, returnData, returnSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_header_map_pairs
func hostGetHeaderMapPairs(mapType uint32, returnData, returnSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_buffer_bytes
func hostGetBufferBytes(bufferType, start, maxSize uint32, returnData, returnSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_shared_data
func hostGetSharedData(keyData unsafe.Pointer, keySize uint32, returnData, returnSize, returnCAS unsafe.Pointer) uint32

//go:wasmimport env proxy_set_shared_data
func hostSetSharedData(keyData unsafe.Pointer, keySize uint32, valueData unsafe.Pointer, valueSize, cas uint32) uint32

//go:wasmimport env proxy_increment_metric
func hostIncrementMetric(metricID uint32, offset int64) uint32

//go:wasmimport env proxy_send_local_response
func hostSendLocalResponse(status uint32, detailsData unsafe.Pointer, detailsSize uint32,
	bodyData unsafe.Pointer, bodySize uint32, headersData unsafe.Pointer, headersSize uint32, grpcStatus int32) uint32

//go:wasmimport wasi_snapshot_preview1 clock_time_get
func clockTimeGet(clockID uint32, precision uint64, time unsafe.Pointer) uint32

// hostBuffer is the SDK glue's memory lent to the host for the next host
// call's data (filter/wasmbuild/_glue), as the filter lends it.
//
//go:linkname hostBuffer github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.glueHostBuffer
var hostBuffer []byte

// The host's out-parameters and the memory lent for each kind of data.
var (
	returnedData *byte
	returnedSize uint32
	returnedCAS  uint32
	now          uint64

	methodBuffer [16]byte
	headerBuffer [8 << 10]byte
	bodyBuffer   [64 << 10]byte
	valueBuffer  [128]byte
	value        [8]byte
)

// bucketKey is the shared-data key of the one bucket.
const bucketKey = "mcp-ratelimit-hostfloor.shared"

// replyBody is the size of the filter's rejection body in the benchmarks.
var replyBody = []byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32029,"message":"Rate limit exceeded","data":{"retryAfterSeconds":3600000}}}`)

// replyHeaders are the filter's rejection headers (Retry-After for the
// benchmarks' 1000-hour bucket, and Content-Type) as the ABI's header
// map: the count, each name's and value's length, then each name and
// value followed by a NUL, little-endian.
var replyHeaders = []byte("\x02\x00\x00\x00" +
	"\x0b\x00\x00\x00\x07\x00\x00\x00" + "\x0c\x00\x00\x00\x10\x00\x00\x00" +
	"retry-after\x003600000\x00" + "content-type\x00application/json\x00")

// Set when the plugin starts.
var (
	maxCalls                             uint64
	admitted, rejected, rejectedByBucket uint32
)

func init() { proxywasm.SetVMContext(&vmContext{}) }

func main() {}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

func (*pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	config, err := proxywasm.GetPluginConfiguration()
	if err != nil {
		config = nil
	}
	maxCalls = maxTokens(config)
	admitted = uint32(proxywasm.DefineCounterMetric("hostfloor.admitted"))
	rejected = uint32(proxywasm.DefineCounterMetric("hostfloor.rejected"))
	rejectedByBucket = uint32(proxywasm.DefineCounterMetric("hostfloor.rejected_shared"))
	return types.OnPluginStartStatusOK
}

// maxTokens returns the first number after "maxTokens": in config, or
// no limit.
func maxTokens(config []byte) uint64 {
	const name = `"maxTokens":`
	i := bytes.Index(config, []byte(name))
	if i < 0 {
		return 1<<64 - 1
	}
	digits := config[i+len(name):]
	end := 0
	for end < len(digits) && '0' <= digits[end] && digits[end] <= '9' {
		end++
	}
	n, err := strconv.ParseUint(string(digits[:end]), 10, 64)
	if err != nil {
		return 1<<64 - 1
	}
	return n
}

func (*pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

type httpContext struct{ types.DefaultHttpContext }

func (*httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	if endOfStream {
		const name = ":method"
		hostBuffer = methodBuffer[:]
		hostGetHeaderMapValue(0, unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)),
			unsafe.Pointer(&returnedData), unsafe.Pointer(&returnedSize))
		hostBuffer = nil
		return types.ActionContinue
	}
	hostBuffer = headerBuffer[:]
	hostGetHeaderMapPairs(0, unsafe.Pointer(&returnedData), unsafe.Pointer(&returnedSize))
	hostBuffer = nil
	return types.ActionPause
}

func (*httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if !endOfStream {
		return types.ActionPause
	}
	hostBuffer = bodyBuffer[:]
	hostGetBufferBytes(0, 0, uint32(bodySize), unsafe.Pointer(&returnedData), unsafe.Pointer(&returnedSize))
	hostBuffer = nil
	if returnedData == nil {
		return types.ActionContinue
	}
	body := unsafe.Slice(returnedData, returnedSize)
	if !bytes.Contains(body, []byte(`"tools/call"`)) {
		return types.ActionContinue
	}
	clockTimeGet(0, 1, unsafe.Pointer(&now))
	key := bucketKey
	hostBuffer = valueBuffer[:]
	returnedData, returnedSize, returnedCAS = nil, 0, 0
	hostGetSharedData(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)),
		unsafe.Pointer(&returnedData), unsafe.Pointer(&returnedSize), unsafe.Pointer(&returnedCAS))
	hostBuffer = nil
	var calls uint64
	if returnedSize == uint32(len(value)) {
		calls = binary.LittleEndian.Uint64(unsafe.Slice(returnedData, returnedSize))
	}
	if calls >= maxCalls {
		hostIncrementMetric(rejected, 1)
		hostIncrementMetric(rejectedByBucket, 1)
		hostSendLocalResponse(429, nil, 0, unsafe.Pointer(&replyBody[0]), uint32(len(replyBody)),
			unsafe.Pointer(&replyHeaders[0]), uint32(len(replyHeaders)), -1)
		return types.ActionPause
	}
	binary.LittleEndian.PutUint64(value[:], calls+1)
	hostSetSharedData(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)), unsafe.Pointer(&value[0]), uint32(len(value)), returnedCAS)
	hostIncrementMetric(admitted, 1)
	return types.ActionContinue
}
