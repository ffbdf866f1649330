package host

import (
	"bytes"
	"fmt"
	"testing"
)

// toolsCallOfSize returns a tools/call body of exactly size bytes.
func toolsCallOfSize(id int, tool string, size int) []byte {
	head := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{"text":"`, id, tool)
	tail := `"}}}`
	pad := size - len(head) - len(tail)
	if pad < 0 {
		pad = 0
	}
	return append(append([]byte(head), bytes.Repeat([]byte{'m'}, pad)...), tail...)
}

// memoryRun drives one worker VM of build/mcp-ratelimit.wasm under the
// Envoy 1.33 profile with n tools/call of size bytes, half of them to a
// tool whose bucket is soon empty (so admitted and rejected calls mix),
// and returns the VM's linear memory size at the end.
func memoryRun(b *testing.B, size, n int) (mem uint64, admitted, rejected int) {
	code := readArtifact(b, benchFilterWasm(), "build")
	d := newDirect(b, code, directOptions{version: "1.33",
		plugin: `{"shared":{"maxTokens":1000000,"refillPeriod":"1s"},"tools":[{"name":"search","shared":{"maxTokens":10,"refillPeriod":"1h"}}]}`})
	bodies := [2][]byte{toolsCallOfSize(1, "echo", size), toolsCallOfSize(2, "search", size)}
	for i := 0; i < n; i++ {
		r := d.do(mcpHeaders(), bodies[i%2], 0, 1<<20)
		switch r.status {
		case 200:
			admitted++
		case 429:
			rejected++
		default:
			b.Fatalf("request %d: status %d %.200s (VM: %v)", i, r.status, r.body, d.vm.Failed())
		}
	}
	if err := d.vm.Failed(); err != nil {
		b.Fatal(err)
	}
	return d.vm.MemoryBytes(), admitted, rejected
}

func benchmarkMemory(b *testing.B, size, n int) {
	for i := 0; i < b.N; i++ {
		mem, admitted, rejected := memoryRun(b, size, n)
		b.ReportMetric(float64(mem)/(1<<20), "linear-MiB")
		b.ReportMetric(float64(admitted), "admitted")
		b.ReportMetric(float64(rejected), "rejected")
		b.Logf("%d x %d B: linear memory %d bytes (%.2f MiB), %d admitted, %d rejected", n, size, mem, float64(mem)/(1<<20), admitted, rejected)
	}
}

// BenchmarkMemory1MiBBodies is the first memory figure: 10 000
// requests of 1 MiB bodies on one worker VM (target <= 8 MiB).
func BenchmarkMemory1MiBBodies(b *testing.B) { benchmarkMemory(b, 1<<20, 10000) }

// BenchmarkMemory16KiBBodies is the second memory figure: 100 000
// requests of 16 KiB bodies on one worker VM (target <= 8 MiB).
func BenchmarkMemory16KiBBodies(b *testing.B) { benchmarkMemory(b, 16<<10, 100000) }

// BenchmarkRequest measures one small tools/call through one VM and the
// filter manager (no network).
func BenchmarkRequest(b *testing.B) {
	code := readArtifact(b, shippedWasm, "build")
	d := newDirect(b, code, directOptions{version: "1.33", plugin: `{"shared":{"maxTokens":1000000000,"refillPeriod":"1s"}}`})
	body := toolsCallOfSize(1, "echo", 256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := d.do(mcpHeaders(), body, 0, 1<<20); r.status != 200 {
			b.Fatalf("status %d", r.status)
		}
	}
}
