// Package stdbase64 reads and writes standard Base64 with padding (RFC 4648,
// section 4) exactly as encoding/base64's StdEncoding.Strict() and
// StdEncoding do. The module has its own because encoding/base64's codec
// took 7.6 KB of the module for two uses, an MCP header value's sentinel
// form and webdis's Basic authorization (docs/benchmarks.md, "Module
// size").
package stdbase64

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// invalid marks a byte outside the alphabet in decodeMap.
const invalid = 0xff

// decodeMap is each byte's 6-bit value, or invalid.
var decodeMap = func() (m [256]byte) {
	for i := range m {
		m[i] = invalid
	}
	for i := range len(alphabet) {
		m[alphabet[i]] = byte(i)
	}
	return m
}()

// Encode returns the standard Base64 of src, padded with '='.
func Encode(src []byte) string {
	dst := make([]byte, 0, (len(src)+2)/3*4)
	for len(src) >= 3 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		dst = append(dst, alphabet[v>>18&63], alphabet[v>>12&63], alphabet[v>>6&63], alphabet[v&63])
		src = src[3:]
	}
	switch len(src) {
	case 1:
		v := uint(src[0]) << 16
		dst = append(dst, alphabet[v>>18&63], alphabet[v>>12&63], '=', '=')
	case 2:
		v := uint(src[0])<<16 | uint(src[1])<<8
		dst = append(dst, alphabet[v>>18&63], alphabet[v>>12&63], alphabet[v>>6&63], '=')
	}
	return string(dst)
}

// Decode returns the bytes s encodes, and false when s is not standard
// Base64: a byte outside the alphabet, a length (not counting '\r' and
// '\n', which are skipped) that is not a multiple of four, padding
// anywhere but at the end of the last group, or, as Strict requires,
// padding whose bits are not zero.
func Decode(s string) ([]byte, bool) {
	dst := make([]byte, 0, len(s)/4*3)
	var group [4]byte // the 6-bit values of a group of four
	n := 0            // values in group
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			continue
		}
		if c == '=' {
			return finish(dst, group, n, s[i:])
		}
		v := decodeMap[c]
		if v == invalid {
			return nil, false
		}
		group[n] = v
		n++
		if n == 4 {
			dst = append(dst, group[0]<<2|group[1]>>4, group[1]<<4|group[2]>>2, group[2]<<6|group[3])
			n = 0
		}
	}
	if n != 0 {
		return nil, false
	}
	return dst, true
}

// finish decodes a last group of n values followed by padding, whose
// text (from its first '=') is rest.
func finish(dst []byte, group [4]byte, n int, rest string) ([]byte, bool) {
	want := 4 - n // the '=' the group needs: two after two values, one after three
	if n < 2 {
		return nil, false
	}
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '\r' || c == '\n':
		case c == '=' && want > 0:
			want--
		default:
			return nil, false
		}
	}
	if want != 0 {
		return nil, false
	}
	if n == 2 {
		if group[1]&0x0f != 0 {
			return nil, false
		}
		return append(dst, group[0]<<2|group[1]>>4), true
	}
	if group[2]&0x03 != 0 {
		return nil, false
	}
	return append(dst, group[0]<<2|group[1]>>4, group[1]<<4|group[2]>>2), true
}
