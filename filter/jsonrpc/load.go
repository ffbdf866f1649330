//go:build !wasm

package jsonrpc

import "encoding/binary"

// load64 returns the eight bytes data[i:i+8] as one word, in any byte
// order (hasSpecialByte looks at each byte alike). i+8 <= len(data).
func load64(data []byte, i int) uint64 {
	return binary.LittleEndian.Uint64(data[i : i+8])
}
