//go:build !wasip1

package filter

import (
	"strconv"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// calloutStatus returns the status of the current callout response: 0
// when it has no :status or one that is not a number, an error when the
// host cannot hand the headers over. Outside a Wasm VM (the SDK's
// emulator) it reads the whole header map.
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
