package stdbase64

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// strict is what Decode must match.
var strict = base64.StdEncoding.Strict()

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "", true},
		{"Zg==", "f", true},
		{"Zm8=", "fo", true},
		{"Zm9v", "foo", true},
		{"Zm9vYg==", "foob", true},
		{"Zm9vYmFy", "foobar", true},
		{"w6k=", "\u00e9", true},
		{"Zm9v\r\nYmFy", "foobar", true},
		{"Zg=\n=", "f", true},
		{"Zg==\n", "f", true},
		{"Zh==", "", false}, // padding bits set: Strict refuses
		{"Zm9=", "", false}, // the same with one '='
		{"Zg=", "", false},  // padding cut short
		{"Zg", "", false},   // no padding
		{"Zm9vY", "", false},
		{"Z===", "", false},
		{"====", "", false},
		{"Zg==Zg==", "", false}, // data after padding
		{"Zm8==", "", false},    // one '=' too many
		{"Zm9v-_==", "", false}, // URL alphabet
		{"Zm 9v", "", false},
		{"Zm9v\x00", "", false},
		{"\xff\xfe", "", false},
	}
	for _, tt := range tests {
		got, ok := Decode(tt.in)
		if ok != tt.ok || ok && string(got) != tt.want {
			t.Errorf("Decode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		std, err := strict.DecodeString(tt.in)
		if (err == nil) != tt.ok || err == nil && string(std) != tt.want {
			t.Errorf("the table disagrees with encoding/base64 on %q: %q, %v", tt.in, std, err)
		}
	}
}

func TestEncode(t *testing.T) {
	for n := range 40 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i*37 + n*101)
		}
		if got, want := Encode(src), base64.StdEncoding.EncodeToString(src); got != want {
			t.Errorf("Encode(%x) = %q, want %q", src, got, want)
		}
	}
}

// FuzzDecode holds Decode to encoding/base64's strict decoder on any text,
// and Encode to its encoder on any bytes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "Zg==", "Zm9vYmFy", "Zh==", "Zg=\n=", "Zm9v\r\nYg==", "Z===", "Zg==Zg=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Decode(s)
		want, err := strict.DecodeString(s)
		if ok != (err == nil) || ok && !bytes.Equal(got, want) {
			t.Fatalf("Decode(%q) = %q, %v; encoding/base64: %q, %v", s, got, ok, want, err)
		}
		if enc, want := Encode([]byte(s)), base64.StdEncoding.EncodeToString([]byte(s)); enc != want {
			t.Fatalf("Encode(%q) = %q, want %q", s, enc, want)
		}
	})
}
