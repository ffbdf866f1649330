//go:build wasip1

package filter

import (
	"strconv"
	"unsafe"
)

// Host calls the filter makes itself on its hot path, where the SDK's
// would cost more inside the VM: the SDK passes its out-parameters through
// an interface, so every call allocates them on the heap, turns every
// status into an error to be matched with errors.Is, and copies every
// header of a map into two new strings. These write their results into
// package variables and return the host's status (see hostcalls.go).

//go:wasmimport env proxy_get_header_map_value
func hostGetHeaderMapValue(mapType uint32, keyData unsafe.Pointer, keySize uint32, returnData, returnSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_header_map_pairs
func hostGetHeaderMapPairs(mapType uint32, returnData, returnSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_buffer_bytes
func hostGetBufferBytes(bufferType, start, maxSize uint32, returnData, returnSize unsafe.Pointer) uint32

//go:wasmimport env proxy_send_local_response
func hostSendLocalResponse(status uint32, detailsData unsafe.Pointer, detailsSize uint32,
	bodyData unsafe.Pointer, bodySize uint32, headersData unsafe.Pointer, headersSize uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_increment_metric
func hostIncrementMetric(metricID uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func hostRecordMetric(metricID uint32, value uint64) uint32

//go:wasmimport env proxy_get_shared_data
func hostGetSharedData(keyData unsafe.Pointer, keySize uint32, returnData, returnSize, returnCAS unsafe.Pointer) uint32

//go:wasmimport env proxy_set_shared_data
func hostSetSharedData(keyData unsafe.Pointer, keySize uint32, valueData unsafe.Pointer, valueSize, cas uint32) uint32

// Map and buffer types of the proxy-wasm ABI.
const (
	mapTypeHTTPRequestHeaders      = 0
	mapTypeHTTPCallResponseHeaders = 6
	bufferTypeHTTPRequestBody      = 0
	bufferTypeHTTPCallResponseBody = 4
)

// Out-parameter slots of these host calls, package variables so that
// their addresses never move while the host writes them (see
// filter/wasmbuild/_glue: the host writes 4-byte addresses and sizes; the
// high half of the pointer slot stays 0).
var (
	hostReturnedData *byte
	hostReturnedSize uint32
	hostReturnedCAS  uint32
)

// hostBuffer is the SDK glue's glueHostBuffer (filter/wasmbuild/_glue):
// memory lent to the host for the allocation of the next host call's data.
//
//go:linkname hostBuffer github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.glueHostBuffer
var hostBuffer []byte

// deliverOrphanedCallouts is the SDK glue's glueDeliverOrphanedCallouts
// (filter/wasmbuild/_glue): set, the answer to a callout whose stream has
// ended reaches the callout's callback instead of being dropped. The
// filter's callbacks check for themselves (httpContext.Decided): a
// decision for a stream that ended gives its concurrency lease back at
// once instead of holding its place until the lease expires.
//
//go:linkname deliverOrphanedCallouts github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.glueDeliverOrphanedCallouts
var deliverOrphanedCallouts bool

func init() { deliverOrphanedCallouts = true }

// Memory reused for the data the filter reads on every request: its
// :method, its header map, its body and the shared-data values its
// limiter reads (and a Redis reply's :status).
// Without it each read is a fresh allocation the garbage collector must
// reclaim (a whole body per request). What the filter keeps of these (the
// identity, the Mcp-* headers, the JSON-RPC ids and names) it copies, and
// each buffer is written again only by a later callback, once the previous
// one is done with it: the VM runs one callback at a time.
var (
	valueBuffer  [16]byte    // :method, or a callout's :status
	headerBuffer []byte      // up to reusedHeaderBytes
	headerPairs  [][2]string // the pairs of headerBuffer
	bodyBuffer   []byte      // up to reusedBodyBytes, allocated for the largest body read
	// sharedValueBuffer holds a shared-data value: a bucket, a user's
	// slot, a quota, or a cap with a few leases.
	sharedValueBuffer [128]byte
	// calloutBuffer holds a callout's response body: webdis's reply to
	// a take or to a release of leases.
	calloutBuffer [512]byte
)

const (
	// reusedHeaderBytes bounds headerBuffer: a larger header map gets
	// memory of its own.
	reusedHeaderBytes = 8 << 10
	// reusedBodyBytes bounds bodyBuffer: up to gcAfterBodyBytes (the
	// default limit) a body is read into it; a larger one (a plugin that
	// admits larger bodies) gets memory of its own, collected at once.
	reusedBodyBytes = gcAfterBodyBytes + 1
)

// lend lends b to the host for the next host call's data.
func lend(b []byte) { hostBuffer = b }

// returned takes the buffer the last host call handed over (memory the
// host obtained from proxy_on_memory_allocate, this VM's own), clearing
// the slot so that it keeps nothing alive.
func returned() []byte {
	data, size := hostReturnedData, hostReturnedSize
	hostReturnedData, hostReturnedSize = nil, 0
	if data == nil {
		return nil
	}
	// Not unsafe.Slice, whose overflow check is a call in the VM: a
	// uint32 size is always within the array type.
	return (*[1 << 32]byte)(unsafe.Pointer(data))[:size:size]
}

func stringPtr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// requestHeader returns the value of the request header name.
// The value is read into reused memory: it is valid until the next call.
func requestHeader(name string) (string, hostStatus) {
	lend(valueBuffer[:])
	status := hostStatus(hostGetHeaderMapValue(mapTypeHTTPRequestHeaders, stringPtr(name), uint32(len(name)),
		unsafe.Pointer(&hostReturnedData), unsafe.Pointer(&hostReturnedSize)))
	lend(nil)
	value := returned()
	if status != statusOK {
		return "", status
	}
	return view(value), statusOK
}

// requestHeaderPairs returns the request's headers. Names and values are
// views of the one buffer the host filled, not copies, and that buffer and
// the pairs are reused: they are valid until the next call.
func requestHeaderPairs() ([][2]string, error) {
	if headerBuffer == nil {
		headerBuffer = make([]byte, reusedHeaderBytes)
	}
	lend(headerBuffer)
	status := hostStatus(hostGetHeaderMapPairs(mapTypeHTTPRequestHeaders,
		unsafe.Pointer(&hostReturnedData), unsafe.Pointer(&hostReturnedSize)))
	lend(nil)
	b := returned()
	if status != statusOK {
		return nil, status.err()
	}
	if len(b) == 0 {
		return nil, nil
	}
	pairs, err := appendParsedPairs(headerPairs, b)
	if cap(pairs) <= 64 {
		headerPairs = pairs // keep a small one for the next request
	}
	return pairs, err
}

// requestBody returns up to maxSize bytes of the buffered request body
// (statusNotFound when the host has none). size is the body's size as the
// host last reported it: a body of up to reusedBodyBytes is read into
// bodyBuffer, so the result is valid until the next call.
func requestBody(size, maxSize int) ([]byte, hostStatus) {
	if n := min(size, maxSize); n > 0 && n <= reusedBodyBytes {
		if len(bodyBuffer) < n {
			// Grown to the next power of two (from 4 KiB), so that bodies
			// of varying sizes do not each allocate.
			c := 4 << 10
			for c < n {
				c *= 2
			}
			bodyBuffer = make([]byte, min(c, reusedBodyBytes))
		}
		lend(bodyBuffer)
	}
	body, status := buffer(bufferTypeHTTPRequestBody, maxSize)
	lend(nil)
	return body, status
}

// calloutBody returns up to maxSize bytes of the current callout
// response's body (statusNotFound when the host has none). A body of up
// to len(calloutBuffer) bytes, as webdis's replies to the filter are, is
// read into it: the result is then valid until the next call.
func calloutBody(maxSize int) ([]byte, hostStatus) {
	if maxSize <= len(calloutBuffer) {
		lend(calloutBuffer[:])
	}
	body, status := buffer(bufferTypeHTTPCallResponseBody, maxSize)
	lend(nil)
	return body, status
}

// buffer returns up to maxSize bytes of a buffer from its start.
func buffer(bufferType uint32, maxSize int) ([]byte, hostStatus) {
	status := hostStatus(hostGetBufferBytes(bufferType, 0, uint32(maxSize),
		unsafe.Pointer(&hostReturnedData), unsafe.Pointer(&hostReturnedSize)))
	hadData := hostReturnedData != nil
	body := returned()
	switch {
	case status != statusOK:
		return nil, status
	case !hadData:
		return nil, statusNotFound
	}
	return body, statusOK
}

// calloutStatus returns the status of the current callout response: 0
// when it has no :status or one that is not a number, an error when the
// host cannot hand the headers over.
func calloutStatus() (int, error) {
	const key = ":status"
	lend(valueBuffer[:])
	status := hostStatus(hostGetHeaderMapValue(mapTypeHTTPCallResponseHeaders, stringPtr(key), uint32(len(key)),
		unsafe.Pointer(&hostReturnedData), unsafe.Pointer(&hostReturnedSize)))
	lend(nil)
	value := returned()
	switch status {
	case statusOK:
	case statusNotFound:
		return 0, nil
	default:
		return 0, status.err()
	}
	code, _ := strconv.Atoi(view(value))
	return code, nil
}

// getSharedData returns the value of key and its CAS. The value is read
// into memory reused by the next call (a larger value, into memory of its
// own): bucket.Store lets Get do so, and a take reads a key or more on
// every limited request.
func getSharedData(key string) ([]byte, uint32, hostStatus) {
	hostReturnedCAS = 0
	lend(sharedValueBuffer[:])
	status := hostStatus(hostGetSharedData(stringPtr(key), uint32(len(key)),
		unsafe.Pointer(&hostReturnedData), unsafe.Pointer(&hostReturnedSize), unsafe.Pointer(&hostReturnedCAS)))
	lend(nil)
	value := returned()
	if status != statusOK {
		return nil, 0, status
	}
	return value, hostReturnedCAS, statusOK
}

// setSharedData writes value under key if cas matches (0: unconditionally).
func setSharedData(key string, value []byte, cas uint32) hostStatus {
	var data unsafe.Pointer
	if len(value) > 0 {
		data = unsafe.Pointer(&value[0])
	}
	return hostStatus(hostSetSharedData(stringPtr(key), uint32(len(key)), data, uint32(len(value)), cas))
}

// localReplyHeaders is the serialised header map of the last local reply,
// its memory reused by the next (the host copies it during the call).
var localReplyHeaders []byte

// replyBodyBuffer is memory for the body of a rejection, reused from one
// to the next so that a rejection allocates no more than an admission:
// replyBody hands it out, keepReplyBody takes it back once the host has
// copied the body.
var replyBodyBuffer []byte

// maxKeptReplyBody bounds the memory kept between replies: a single
// rejection's body is about 150 bytes; a large batch's is not kept.
const maxKeptReplyBody = 4 << 10

// replyBody returns an empty buffer to build a rejection's body in; pass
// it to keepReplyBody after sending.
func replyBody() []byte { return replyBodyBuffer[:0] }

// keepReplyBody keeps body's memory for the next replyBody. The body must
// have been sent: the next reply overwrites it.
func keepReplyBody(body []byte) {
	if cap(body) <= maxKeptReplyBody {
		replyBodyBuffer = body[:0]
	}
}

// sendLocalResponse answers the request with a local reply (no gRPC
// status).
func sendLocalResponse(status uint32, headers [][2]string, body []byte) error {
	localReplyHeaders = appendPairs(localReplyHeaders[:0], headers)
	return sendLocalResponsePairs(status, localReplyHeaders, body)
}

// sendLocalResponsePairs is sendLocalResponse with the headers already
// serialised (appendPairs); the host copies them during the call.
func sendLocalResponsePairs(status uint32, pairs, body []byte) error {
	var bodyData unsafe.Pointer
	if len(body) > 0 {
		bodyData = unsafe.Pointer(&body[0])
	}
	return hostStatus(hostSendLocalResponse(status, nil, 0, bodyData, uint32(len(body)),
		unsafe.Pointer(&pairs[0]), uint32(len(pairs)), -1)).err()
}

// incrementMetric adds n to the counter id; the host's refusal is
// dropped (see metricCounter.Increment).
func incrementMetric(id uint32, n uint64) {
	hostIncrementMetric(id, int64(n))
}

// recordMetric records value in the histogram id; the host's refusal is
// dropped (see metricHistogram.Record).
func recordMetric(id uint32, value uint64) {
	hostRecordMetric(id, value)
}
