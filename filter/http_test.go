package filter

import (
	"strings"
	"testing"
)

// TestEqualFoldASCII holds equalFoldASCII to strings.EqualFold of names
// of one length, for the lower-case ASCII names the filter looks up,
// against names in other cases, with look-alike letters (K is U+212A, the
// Kelvin sign; ſ is U+017F, which folds to s: neither has the length of
// the letter it folds to) and of other lengths.
func TestEqualFoldASCII(t *testing.T) {
	names := []string{":method", ":path", "content-length", "content-type", "content-encoding",
		"transfer-encoding", "mcp-method", "mcp-name", "x-user-id", "post", ""}
	for _, lower := range names {
		candidates := []string{lower, strings.ToUpper(lower), lower + " ", " " + lower,
			strings.ReplaceAll(lower, "-", "_"), strings.ReplaceAll(lower, "k", "\u212a"),
			strings.ReplaceAll(lower, "s", "\u017f"), strings.ReplaceAll(lower, "e", "\u00e9")}
		for _, other := range names {
			candidates = append(candidates, other)
		}
		for _, s := range candidates {
			if got, want := equalFoldASCII(s, lower), len(s) == len(lower) && strings.EqualFold(s, lower); got != want {
				t.Errorf("equalFoldASCII(%q, %q) = %v, want %v", s, lower, got, want)
			}
		}
	}
	// Bytes that differ from a letter in bit 0x20 alone are not letters.
	for c := 0; c < 256; c++ {
		s := string([]byte{byte(c)})
		if got, want := equalFoldASCII(s, "-"), c == '-'; got != want {
			t.Errorf("equalFoldASCII(%q, \"-\") = %v, want %v", s, got, want)
		}
	}
}

func TestTrimOWS(t *testing.T) {
	tests := []struct{ in, both, left string }{
		{"", "", ""},
		{" \t", "", ""},
		{"utf-8", "utf-8", "utf-8"},
		{" \tutf-8\t ", "utf-8", "utf-8\t "},
		{"\r\nutf-8", "\r\nutf-8", "\r\nutf-8"}, // CR and LF are not OWS
		{"a b", "a b", "a b"},
	}
	for _, tt := range tests {
		if got := trimOWS(tt.in); got != tt.both {
			t.Errorf("trimOWS(%q) = %q, want %q", tt.in, got, tt.both)
		}
		if got := trimLeftOWS(tt.in); got != tt.left {
			t.Errorf("trimLeftOWS(%q) = %q, want %q", tt.in, got, tt.left)
		}
	}
}
