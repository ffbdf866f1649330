package jsonrpc

import "testing"

// BenchmarkRead measures Read on tools/call bodies of four sizes; run with
// -benchmem to see that allocations do not grow with the body. The
// 256-byte body is the size of envoy/host's small-request workloads.
func BenchmarkRead(b *testing.B) {
	bodies := []struct {
		name string
		body []byte
	}{
		{"small", []byte(call("1", "search"))},
		{"256B", bigCall(256)},
		{"16KiB", bigCall(16 << 10)},
		{"1MiB", bigCall(1 << 20)},
		{"1MiB-escaped-nested", bigEscapedCall(1 << 20)},
	}
	for _, bb := range bodies {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.body)))
			b.ReportAllocs()
			for b.Loop() {
				msg, err := Read(bb.body)
				if err != nil || !msg.Requests[0].HasToolName {
					b.Fatalf("Read = %+v, %v", msg, err)
				}
			}
		})
	}
}

// BenchmarkErrorResponse measures building a rate-limit reply.
func BenchmarkErrorResponse(b *testing.B) {
	id := []byte(`"request-17"`)
	b.ReportAllocs()
	for b.Loop() {
		ErrorResponse(id, -32029, "Rate limit exceeded", RateLimitData(12))
	}
}
