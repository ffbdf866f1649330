//go:build wasip1

package filter

import (
	"fmt"
	"strconv"
	"unsafe"
)

// calloutStatus asks the host for the :status header of the response to
// the current proxy_http_call, and nothing else: the SDK offers only the
// whole header map (GetHttpCallResponseHeaders), which the host then
// serialises and the SDK copies into two strings per header, for the one
// value the filter reads.

//go:wasmimport env proxy_get_header_map_value
func hostGetHeaderMapValue(mapType uint32, keyData unsafe.Pointer, keySize uint32, returnData, returnSize unsafe.Pointer) uint32

// mapTypeHTTPCallResponseHeaders is the proxy-wasm ABI's map type of a
// callout's response headers.
const mapTypeHTTPCallResponseHeaders = 6

// Out-parameter slots, package variables so that their addresses never
// move while the host writes them (see filter/wasmbuild/_glue: the host
// writes 4-byte addresses and sizes; the high half of the pointer slot
// stays 0).
var (
	calloutReturnedData *byte
	calloutReturnedSize uint32
)

const statusKey = ":status"

// Host call results (proxy-wasm ABI WasmResult).
const (
	resultOK       = 0
	resultNotFound = 1
)

// calloutStatus returns the status of the current callout response: 0
// when it has no :status or one that is not a number, an error when the
// host cannot hand the headers over.
func calloutStatus() (int, error) {
	calloutReturnedData, calloutReturnedSize = nil, 0
	switch result := hostGetHeaderMapValue(mapTypeHTTPCallResponseHeaders, unsafe.Pointer(unsafe.StringData(statusKey)),
		uint32(len(statusKey)), unsafe.Pointer(&calloutReturnedData), unsafe.Pointer(&calloutReturnedSize)); result {
	case resultOK:
	case resultNotFound:
		return 0, nil
	default:
		return 0, fmt.Errorf("proxy_get_header_map_value: status %d", result)
	}
	if calloutReturnedData == nil {
		return 0, nil
	}
	status, _ := strconv.Atoi(unsafe.String(calloutReturnedData, calloutReturnedSize))
	calloutReturnedData = nil
	return status, nil
}
