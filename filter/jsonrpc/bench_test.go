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

// BenchmarkReadInto measures ReadInto in lent memory, as the filter reads
// every body: a tools/list and the 256-byte tools/call of envoy/host's
// small-request workloads. In a Wasm VM (GOOS=wasip1 GOARCH=wasm go test
// -c, run under wazero) it shows what the module spends on the reader.
func BenchmarkReadInto(b *testing.B) {
	bodies := []struct {
		name string
		body []byte
	}{
		{"tools-list", []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`)},
		{"call-256B", bigCall(256)},
	}
	for _, bb := range bodies {
		b.Run(bb.name, func(b *testing.B) {
			var requests [1]Request
			var text [64]byte
			var scratch Scratch
			b.SetBytes(int64(len(bb.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ReadInto(bb.body, requests[:], text[:], &scratch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
