package random

import (
	"bytes"
	"io"
	"testing"
)

// TestReader checks that Reader fills a buffer and that two reads differ.
func TestReader(t *testing.T) {
	var a, b [32]byte
	for _, buf := range [][]byte{a[:], b[:]} {
		n, err := io.ReadFull(Reader, buf)
		if err != nil || n != len(buf) {
			t.Fatalf("ReadFull = %d, %v; want %d, nil", n, err, len(buf))
		}
	}
	if a == b {
		t.Errorf("two reads returned the same bytes %x", a)
	}
	if bytes.Equal(a[:], make([]byte, len(a))) {
		t.Errorf("a read returned only zeros")
	}
}
