package filter_test

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/wasmtest"
)

// vmVariant is one way to run the filter: natively, or the compiled
// module in wazero.
type vmVariant struct {
	name string
	// newVM returns a fresh VM context for one test.
	newVM func(t *testing.T) types.VMContext
}

// vmVariants are the variants every behaviour test runs under. The wasm
// variant needs build/mcp-ratelimit.wasm (`make build`) and fails, never
// skips, when it is missing.
var vmVariants = []vmVariant{
	{name: "native", newVM: func(*testing.T) types.VMContext { return filter.NewVMContext() }},
	{name: "wasm", newVM: func(t *testing.T) types.VMContext { return wasmtest.NewVMContext(t, wasmtest.ModulePath(t)) }},
}

// forEachVM runs test once per variant, each in its own subtest.
func forEachVM(t *testing.T, test func(t *testing.T, newVM func() types.VMContext)) {
	t.Helper()
	for _, variant := range vmVariants {
		t.Run(variant.name, func(t *testing.T) {
			test(t, func() types.VMContext { return variant.newVM(t) })
		})
	}
}
