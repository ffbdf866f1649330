package filter

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// marshalPairs serialises pairs as the host does (proxy-wasm-cpp-host
// exports.h marshalPairs).
func marshalPairs(pairs [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	return b
}

func TestParsePairs(t *testing.T) {
	tests := []struct {
		name  string
		pairs [][2]string
	}{
		{"none", [][2]string{}},
		{"one", [][2]string{{":method", "POST"}}},
		{"empty name and value", [][2]string{{"", ""}, {"x", ""}, {"", "y"}}},
		{"request", [][2]string{{":method", "POST"}, {":path", "/mcp"}, {":authority", "h"},
			{"content-type", "application/json"}, {"x-user-id", "al\x00ice"}, {"mcp-method", "tools/call"}}},
		{"values around appendText's bound", [][2]string{{"a", strings.Repeat("v", 32)}, {strings.Repeat("n", 33), "w"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := marshalPairs(tt.pairs)
			if got := appendPairs([]byte("x"), tt.pairs); string(got) != "x"+string(b) {
				t.Errorf("appendPairs = %q, want x%q", got, b)
			}
			got, err := parsePairs(b)
			if err != nil || !reflect.DeepEqual(got, tt.pairs) {
				t.Fatalf("parsePairs = %q, %v; want %q", got, err, tt.pairs)
			}
			// Into memory of its own when dst has room.
			dst := make([][2]string, 1, 8)
			got, err = appendParsedPairs(dst, b)
			if err != nil || !reflect.DeepEqual(got, tt.pairs) || len(got) > 0 && &got[0] != &dst[0] {
				t.Fatalf("appendParsedPairs(dst of capacity 8) = %q, %v; want %q in dst's memory", got, err, tt.pairs)
			}
			// Every truncation is refused, never read out of bounds.
			for n := range len(b) {
				if got, err := parsePairs(b[:n]); !errors.Is(err, errMalformedPairs) {
					t.Errorf("parsePairs of the first %d of %d bytes = %q, %v; want errMalformedPairs", n, len(b), got, err)
				}
			}
		})
	}
	huge := binary.LittleEndian.AppendUint32(nil, 1<<32-1)
	if _, err := parsePairs(huge); !errors.Is(err, errMalformedPairs) {
		t.Errorf("a count of 2^32-1 with no sizes: %v, want errMalformedPairs", err)
	}
}
