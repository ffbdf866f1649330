// Command noop is the baseline of the filter's benchmarks: a proxy-wasm
// plugin built exactly like the filter (standard Go, the same SDK, the same
// glue, the same runtime patch; `make build PKG=./filter/internal/noop
// WASM=build/noop.wasm`) that does no work of its own. Its HTTP context
// continues at every callback; a request with a body is held until the end
// of the stream and the whole body read once, as the filter reads it, so
// that the ratio of the filter's time to this plugin's is the cost of what
// the filter does beyond being a Go proxy-wasm plugin that reads the body.
//
// It lives in the repository's own module (not in a test's testdata) so
// that wasmbuild resolves its SDK and glue through the same go.work as the
// filter's; it is internal because nothing should import it.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func init() { proxywasm.SetVMContext(&vmContext{}) }

func main() {}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

func (*pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

// httpContext continues, except that it buffers a request body and reads
// it once at the end of the stream.
type httpContext struct {
	types.DefaultHttpContext
	// bodyBytes is the total length of the body read, so that the read
	// cannot be optimised away.
	bodyBytes int
}

func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if !endOfStream {
		return types.ActionPause
	}
	if bodySize > 0 {
		body, err := proxywasm.GetHttpRequestBody(0, bodySize)
		if err == nil {
			h.bodyBytes += len(body)
		}
	}
	return types.ActionContinue
}
