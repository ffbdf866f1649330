package filter_test

import (
	"io"
	"log"
	"os"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

// BenchmarkRequest measures the Go filter's request path under the SDK's
// emulator: headers, body (one chunk), decision over emulated shared data,
// end of stream. The emulator's own work is included.
//
//	go test ./filter -run '^$' -bench BenchmarkRequest -benchmem
func BenchmarkRequest(b *testing.B) {
	// The emulator logs every host log line through package log.
	log.SetOutput(io.Discard)
	b.Cleanup(func() { log.SetOutput(os.Stderr) })
	small := toolsCall("1", "search")
	cases := []struct {
		name   string
		config string
		body   string
		// warm requests are sent before timing (to empty the bucket).
		warm     int
		rejected bool
	}{
		{name: "admitted", config: `{"shared":{"maxTokens":1000000000,"refillPeriod":"1h"}}`, body: small},
		{name: "admitted_all_buckets", config: `{"shared":{"maxTokens":1000000000,"refillPeriod":"1h"},` +
			`"perUser":{"maxTokens":1000000000,"refillPeriod":"1h"},"userIdentity":{"from":"header","header":"x-user-id"},` +
			`"tools":[{"name":"search","shared":{"maxTokens":1000000000,"refillPeriod":"1h"},"perUser":{"maxTokens":1000000000,"refillPeriod":"1h"}}]}`,
			body: small},
		{name: "rejected", config: `{"shared":{"maxTokens":1,"refillPeriod":"1h"}}`, body: small, warm: 1, rejected: true},
		{name: "admitted_16KiB", config: `{"shared":{"maxTokens":1000000000,"refillPeriod":"1h"}}`, body: paddedToolsCall(16 << 10)},
		{name: "not_inspected", config: `{"shared":{"maxTokens":1,"refillPeriod":"1h"},"paths":["/mcp"]}`, body: small},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			headers := [][2]string{{":method", "POST"}, {":path", "/mcp"}, {"content-type", "application/json"},
				{"x-user-id", "alice"}}
			if c.name == "not_inspected" {
				headers[1][1] = "/health"
			}
			body := []byte(c.body)
			var e *env
			restart := func() {
				// The emulator keeps every stream it saw; start a fresh one
				// now and then so that its memory does not grow with b.N.
				e = startFilter(b, filter.NewVMContext(), c.config)
				for range c.warm {
					e.send(request{body: c.body})
				}
			}
			restart()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2000 == 1999 {
					b.StopTimer()
					restart()
					b.StartTimer()
				}
				id := e.host.InitializeHttpContext()
				action := e.host.CallOnRequestHeaders(id, headers, false)
				if action == types.ActionPause {
					action = e.host.CallOnRequestBody(id, body, true)
				}
				replied := e.host.GetSentLocalResponse(id) != nil
				if replied != c.rejected || (!replied && action != types.ActionContinue) {
					b.Fatalf("iteration %d: action %v, replied %t; want rejected=%t", i, action, replied, c.rejected)
				}
				e.host.CompleteHttpContext(id)
			}
		})
	}
}
