package sha256

import (
	"bytes"
	"crypto/hmac"
	stdsha256 "crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"testing"
)

// TestSum256 checks the FIPS 180-4 example messages (and the empty one).
func TestSum256(t *testing.T) {
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"448 bits", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
			"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{"896 bits", "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
			"cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
		{"million a", strings.Repeat("a", 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Sum256([]byte(tc.msg))
			if hex.EncodeToString(got[:]) != tc.want {
				t.Errorf("Sum256 = %x, want %s", got, tc.want)
			}
		})
	}
}

// TestHMAC checks RFC 4231's HMAC-SHA-256 test cases 1-4, 6 and 7 (case 5
// is a truncated output; 6 and 7 have keys longer than a block).
func TestHMAC(t *testing.T) {
	rep := func(b byte, n int) string { return strings.Repeat(string([]byte{b}), n) }
	for _, tc := range []struct {
		name, key, data, want string
	}{
		{"case 1", rep(0x0b, 20), "Hi There",
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"case 2", "Jefe", "what do ya want for nothing?",
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"case 3", rep(0xaa, 20), rep(0xdd, 50),
			"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
		{"case 4", string(hexBytes(t, "0102030405060708090a0b0c0d0e0f10111213141516171819")), rep(0xcd, 50),
			"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
		{"case 6", rep(0xaa, 131), "Test Using Larger Than Block-Size Key - Hash Key First",
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{"case 7", rep(0xaa, 131), "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
			"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NewHMAC([]byte(tc.key)).Append(nil, []byte(tc.data))
			if hex.EncodeToString(got) != tc.want {
				t.Errorf("HMAC = %x, want %s", got, tc.want)
			}
		})
	}
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConstants derives H(0) and K from the primes as FIPS 180-4 defines
// them (float64 holds the 32 fractional bits of roots below 8 exactly
// enough).
func TestConstants(t *testing.T) {
	var primes []int
	for n := 2; len(primes) < 64; n++ {
		prime := true
		for _, p := range primes {
			prime = prime && n%p != 0
		}
		if prime {
			primes = append(primes, n)
		}
	}
	frac := func(x float64) uint32 { return uint32((x - math.Floor(x)) * (1 << 32)) }
	for i, p := range primes {
		if i < len(initial) && initial[i] != frac(math.Sqrt(float64(p))) {
			t.Errorf("H(0)[%d] = %#08x, want %#08x", i, initial[i], frac(math.Sqrt(float64(p))))
		}
		if k[i] != frac(math.Cbrt(float64(p))) {
			t.Errorf("K[%d] = %#08x, want %#08x", i, k[i], frac(math.Cbrt(float64(p))))
		}
	}
}

// pseudoRandom returns n deterministic bytes (a xorshift generator).
func pseudoRandom(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	return b
}

// TestAgainstStandardLibrary compares every message length 0..300 and key
// length 0..200 with crypto/sha256 and crypto/hmac.
func TestAgainstStandardLibrary(t *testing.T) {
	msg := pseudoRandom(300, 1)
	for n := 0; n <= len(msg); n++ {
		if got, want := Sum256(msg[:n]), stdsha256.Sum256(msg[:n]); got != want {
			t.Errorf("Sum256(%d bytes) = %x, want %x", n, got, want)
		}
	}
	keys := pseudoRandom(200, 2)
	for kn := 0; kn <= len(keys); kn++ {
		key := keys[:kn]
		h := NewHMAC(key)
		for n := 0; n <= len(msg); n += 1 + kn%7 {
			checkHMAC(t, h, key, msg[:n])
		}
	}
}

func checkHMAC(t *testing.T, h *HMAC, key, msg []byte) {
	t.Helper()
	std := hmac.New(stdsha256.New, key)
	std.Write(msg)
	if got, want := h.Append(nil, msg), std.Sum(nil); !bytes.Equal(got, want) {
		t.Errorf("HMAC(%d-byte key, %d bytes) = %x, want %x", len(key), len(msg), got, want)
	}
}

// FuzzSum compares both functions with the standard library.
func FuzzSum(f *testing.F) {
	f.Add([]byte("key"), []byte("message"))
	f.Add([]byte{}, []byte{})
	f.Add(bytes.Repeat([]byte{0xaa}, 131), bytes.Repeat([]byte{'m'}, 119))
	f.Fuzz(func(t *testing.T, key, msg []byte) {
		if got, want := Sum256(msg), stdsha256.Sum256(msg); got != want {
			t.Errorf("Sum256(%x) = %x, want %x", msg, got, want)
		}
		checkHMAC(t, NewHMAC(key), key, msg)
	})
}

// TestAppend checks that Append appends to dst, leaves the HMAC as it was
// and, with room in dst, allocates nothing.
func TestAppend(t *testing.T) {
	h := NewHMAC([]byte("key"))
	msg := pseudoRandom(200, 3)
	want := h.Append(nil, msg)
	dst := append(make([]byte, 0, 64), "prefix"...)
	got := h.Append(dst, msg)
	if string(got[:6]) != "prefix" || !bytes.Equal(got[6:], want) {
		t.Errorf("Append(%q) = %x, want prefix then %x", "prefix", got, want)
	}
	if again := h.Append(nil, msg); !bytes.Equal(again, want) {
		t.Errorf("second Append = %x, want %x", again, want)
	}
	allocs := testing.AllocsPerRun(100, func() {
		dst = h.Append(dst[:0], msg)
	})
	if allocs != 0 {
		t.Errorf("Append allocates %v times, want 0", allocs)
	}
}
