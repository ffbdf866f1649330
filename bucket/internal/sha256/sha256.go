// Package sha256 computes SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104)
// in plain Go, so that the Wasm module does not link Go's FIPS 140 crypto
// module (crypto/sha256 and crypto/hmac bring in its SHA-3, SHA-512, AES
// and DRBG too: about 200 KB). Its tests hold it to crypto/sha256 and
// crypto/hmac.
package sha256

import (
	"encoding/binary"
	"math/bits"
)

const (
	// Size is the length of a SHA-256 digest in bytes.
	Size = 32
	// BlockSize is the length of the block SHA-256 compresses, in bytes.
	BlockSize = 64
)

// initial is the initial hash value H(0) (FIPS 180-4, 5.3.3): the first
// 32 bits of the fractional parts of the square roots of the first eight
// primes.
var initial = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// k are the round constants (FIPS 180-4, 4.2.2): the first 32 bits of the
// fractional parts of the cube roots of the first 64 primes.
var k = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// Sum256 returns the SHA-256 digest of data.
func Sum256(data []byte) [Size]byte {
	d := digest{h: initial}
	d.write(data)
	return d.sum()
}

// HMAC computes HMAC-SHA-256 with one key. It holds the hash states after
// the key's inner and outer pad blocks, so that a message costs only its
// own blocks and two more. Append does not modify the HMAC: one value may
// be used by several goroutines at once.
type HMAC struct {
	inner, outer digest
}

// NewHMAC returns the HMAC-SHA-256 of key (RFC 2104: a key longer than a
// block is hashed first; any key is padded with zeros to a block).
func NewHMAC(key []byte) *HMAC {
	var k0 [BlockSize]byte
	if len(key) > BlockSize {
		sum := Sum256(key)
		copy(k0[:], sum[:])
	} else {
		copy(k0[:], key)
	}
	h := &HMAC{inner: digest{h: initial}, outer: digest{h: initial}}
	var pad [BlockSize]byte
	for i, b := range k0 {
		pad[i] = b ^ 0x36
	}
	h.inner.write(pad[:])
	for i, b := range k0 {
		pad[i] = b ^ 0x5c
	}
	h.outer.write(pad[:])
	return h
}

// Append appends HMAC-SHA-256(key, message) to dst and returns the
// extended slice. It allocates only if dst lacks room for Size bytes.
func (h *HMAC) Append(dst, message []byte) []byte {
	d := h.inner
	d.write(message)
	inner := d.sum()
	d = h.outer
	d.write(inner[:])
	sum := d.sum()
	return append(dst, sum[:]...)
}

// digest is a SHA-256 computation in progress.
type digest struct {
	h   [8]uint32       // the intermediate hash value
	buf [BlockSize]byte // the bytes of an incomplete block
	n   int             // how many of buf are in use
	len uint64          // how many bytes were written in all
}

// write hashes p after what was written before.
func (d *digest) write(p []byte) {
	d.len += uint64(len(p))
	if d.n > 0 {
		c := copy(d.buf[d.n:], p)
		d.n += c
		p = p[c:]
		if d.n < BlockSize {
			return
		}
		block(&d.h, d.buf[:])
		d.n = 0
	}
	if whole := len(p) &^ (BlockSize - 1); whole > 0 {
		block(&d.h, p[:whole])
		p = p[whole:]
	}
	d.n = copy(d.buf[:], p)
}

// sum returns the digest of what was written, leaving d as it was (d is
// a copy): padding (FIPS 180-4, 5.1.1) is a one bit, zeros up to 56 bytes
// into a block, then the message length in bits as 64 bits big-endian.
func (d digest) sum() [Size]byte {
	var pad [BlockSize + 8]byte
	pad[0] = 0x80
	zeros := (55 - d.len) % BlockSize // unsigned: 55-len mod 64 either way
	binary.BigEndian.PutUint64(pad[1+zeros:], d.len<<3)
	d.write(pad[:1+zeros+8])
	var out [Size]byte
	for i, v := range d.h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// block compresses the whole blocks of p into h (FIPS 180-4, 6.2.2).
func block(h *[8]uint32, p []byte) {
	var w [64]uint32
	for ; len(p) >= BlockSize; p = p[BlockSize:] {
		for t := range 16 {
			w[t] = binary.BigEndian.Uint32(p[4*t:])
		}
		for t := 16; t < 64; t++ {
			s0 := bits.RotateLeft32(w[t-15], -7) ^ bits.RotateLeft32(w[t-15], -18) ^ w[t-15]>>3
			s1 := bits.RotateLeft32(w[t-2], -17) ^ bits.RotateLeft32(w[t-2], -19) ^ w[t-2]>>10
			w[t] = s1 + w[t-7] + s0 + w[t-16]
		}
		a, b, c, d, e, f, g, hh := h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
		for t := range 64 {
			s1 := bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)
			ch := e&f ^ ^e&g
			t1 := hh + s1 + ch + k[t] + w[t]
			s0 := bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)
			maj := a&b ^ a&c ^ b&c
			t2 := s0 + maj
			hh, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
		}
		h[0] += a
		h[1] += b
		h[2] += c
		h[3] += d
		h[4] += e
		h[5] += f
		h[6] += g
		h[7] += hh
	}
}
