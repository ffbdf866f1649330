//go:build !wasip1

package filter

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

// RefuseRequestHeaderMap makes the host refuse the request's header map
// (proxy_get_header_map_pairs), as a host may, until restore is called.
// Single headers are still handed over.
func RefuseRequestHeaderMap() (restore func()) {
	saved := requestHeaderPairs
	requestHeaderPairs = func() ([][2]string, error) { return nil, types.ErrorStatusBadArgument }
	return func() { requestHeaderPairs = saved }
}
