//go:build !wasip1

package filter

import (
	"errors"
	"strconv"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// Outside a Wasm VM (the SDK's emulator, in native tests) the host calls of
// hostcalls_wasip1.go go through the SDK.

// requestHeader returns the value of the request header name.
func requestHeader(name string) (string, hostStatus) {
	value, err := proxywasm.GetHttpRequestHeader(name)
	return value, statusOf(err)
}

// requestHeaderPairs returns the request's headers. A variable, so that a
// test can have the host refuse the map (RefuseRequestHeaderMap).
var requestHeaderPairs = func() ([][2]string, error) {
	return proxywasm.GetHttpRequestHeaders()
}

// requestBody returns up to maxSize bytes of the buffered request body
// (statusNotFound when the host has none); size, the body's size as the
// host last reported it, matters only in the VM (hostcalls_wasip1.go).
func requestBody(_, maxSize int) ([]byte, hostStatus) {
	body, err := proxywasm.GetHttpRequestBody(0, maxSize)
	return body, statusOf(err)
}

// calloutBody returns up to maxSize bytes of the current callout
// response's body (statusNotFound when the host has none).
func calloutBody(maxSize int) ([]byte, hostStatus) {
	body, err := proxywasm.GetHttpCallResponseBody(0, maxSize)
	return body, statusOf(err)
}

// calloutStatus returns the status of the current callout response: 0
// when it has no :status or one that is not a number, an error when the
// host cannot hand the headers over.
func calloutStatus() (int, error) {
	headers, err := proxywasm.GetHttpCallResponseHeaders()
	if err != nil {
		return 0, err
	}
	for _, h := range headers {
		if h[0] == ":status" {
			status, _ := strconv.Atoi(h[1])
			return status, nil
		}
	}
	return 0, nil
}

// getSharedData returns a copy of the value of key and its CAS: the
// emulator hands over the slice it stores.
func getSharedData(key string) ([]byte, uint32, hostStatus) {
	value, cas, err := proxywasm.GetSharedData(key)
	if err != nil {
		return nil, 0, statusOf(err)
	}
	return append([]byte(nil), value...), cas, statusOK
}

// setSharedData writes value under key if cas matches (0: unconditionally).
func setSharedData(key string, value []byte, cas uint32) hostStatus {
	return statusOf(proxywasm.SetSharedData(key, value, cas))
}

// replyBody returns nil: the SDK's test host keeps the body it is given,
// so a native build builds each rejection's body afresh.
func replyBody() []byte { return nil }

// keepReplyBody does nothing natively (see replyBody).
func keepReplyBody([]byte) {}

// sendLocalResponse answers the request with a local reply (no gRPC
// status).
func sendLocalResponse(status uint32, headers [][2]string, body []byte) error {
	return proxywasm.SendHttpResponse(status, headers, body, -1)
}

// sendLocalResponsePairs is sendLocalResponse with the headers already
// serialised (appendPairs), read back for the SDK's emulator.
func sendLocalResponsePairs(status uint32, pairs, body []byte) error {
	headers, err := parsePairs(pairs)
	if err != nil {
		return err
	}
	return proxywasm.SendHttpResponse(status, headers, body, -1)
}

// incrementMetric adds n to the counter id (the SDK's emulator refuses no
// increment of a defined counter, so the SDK's panic on a refusal never
// fires here).
func incrementMetric(id uint32, n uint64) {
	proxywasm.MetricCounter(id).Increment(n)
}

// recordMetric records value in the histogram id (the emulator refuses no
// value of a defined histogram).
func recordMetric(id uint32, value uint64) {
	proxywasm.MetricHistogram(id).Record(value)
}

// statusOf is the status of an error the SDK returned (the inverse of err;
// statusInternal for an error it does not name).
func statusOf(err error) hostStatus {
	if err == nil {
		return statusOK
	}
	for s, e := range hostStatusErrors {
		if errors.Is(err, e) {
			return s
		}
	}
	return statusInternal
}
