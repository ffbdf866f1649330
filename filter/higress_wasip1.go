//go:build higress && wasip1

package filter

import "unsafe"

// Higress's Redis host calls (Higress's proxy-wasm extension; the argument
// lists are those of its Go SDK, higress-group/proxy-wasm-go-sdk).

//go:wasmimport env proxy_redis_init
func higressRedisInit(cluster unsafe.Pointer, clusterSize uint32, username unsafe.Pointer, usernameSize uint32,
	password unsafe.Pointer, passwordSize uint32, timeoutMillis uint32) uint32

//go:wasmimport env proxy_redis_call
func higressRedisCall(cluster unsafe.Pointer, clusterSize uint32, query unsafe.Pointer, querySize uint32,
	calloutID unsafe.Pointer) uint32

//go:wasmimport env proxy_get_buffer_bytes
func higressGetBufferBytes(bufferType, start, maxSize uint32, returnData, returnSize unsafe.Pointer) uint32

// bufferTypeRedisCallResponse is the buffer holding a Redis reply during
// proxy_on_redis_call_response.
const bufferTypeRedisCallResponse = 9

// Out-parameter slots, package variables so that their addresses never
// move while the host writes them (see filter/wasmbuild/_glue: the host writes
// 4-byte addresses and sizes; the high half of the pointer slot stays 0).
var (
	higressReturnedData *byte
	higressReturnedSize uint32
	higressCalloutID    uint32
)

// stringData is the address of s's bytes, or nil for "".
func stringData(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

func redisInit(cluster, username, password string, timeoutMillis uint32) uint32 {
	return higressRedisInit(stringData(cluster), uint32(len(cluster)), stringData(username), uint32(len(username)),
		stringData(password), uint32(len(password)), timeoutMillis)
}

func redisCall(cluster string, query []byte) (uint32, uint32) {
	higressCalloutID = 0
	var q unsafe.Pointer
	if len(query) > 0 {
		q = unsafe.Pointer(&query[0])
	}
	status := higressRedisCall(stringData(cluster), uint32(len(cluster)), q, uint32(len(query)), unsafe.Pointer(&higressCalloutID))
	return higressCalloutID, status
}

// redisReply copies the reply of the current proxy_on_redis_call_response.
func redisReply(size uint32) ([]byte, error) {
	higressReturnedData, higressReturnedSize = nil, 0
	status := higressGetBufferBytes(bufferTypeRedisCallResponse, 0, size,
		unsafe.Pointer(&higressReturnedData), unsafe.Pointer(&higressReturnedSize))
	if status != 0 {
		return nil, errRedisCallFailed
	}
	if higressReturnedData == nil || higressReturnedSize == 0 {
		return nil, nil
	}
	return append([]byte(nil), unsafe.Slice(higressReturnedData, higressReturnedSize)...), nil
}

//go:wasmexport proxy_on_redis_call_response
func proxyOnRedisCallResponse(pluginContextID, calloutID, status, responseSize uint32) {
	onRedisCallResponse(calloutID, status, func() ([]byte, error) { return redisReply(responseSize) })
}
