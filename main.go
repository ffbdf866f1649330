// Command mcp-ratelimit is the proxy-wasm module that rate-limits MCP
// tools/call requests. It is built for GOOS=wasip1 GOARCH=wasm with
// -buildmode=c-shared (a WASI reactor); see the Makefile.
//
// The module is a reactor: the host calls _initialize, which runs init, and
// then calls the proxy_on_* exports. main is required by the Go toolchain but
// is never called.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

func init() {
	proxywasm.SetVMContext(filter.NewVMContext())
}

func main() {}
