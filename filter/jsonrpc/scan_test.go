package jsonrpc

import (
	"strings"
	"testing"
	"unicode"
)

// referenceStringEnd is the obvious byte-by-byte stringEnd.
func referenceStringEnd(data []byte, start int) int {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(data)
}

func TestStringEnd(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{`""`, 2},
		{`"a"x`, 3},
		{`"\""x`, 4},
		{`"\\"x`, 4},
		{`"\\\"x"`, 7},
		{`"unterminated`, 13},
		{`"ends in backslash\`, 19},
		{`"` + strings.Repeat("a", 100) + `"`, 102},
		{`"` + strings.Repeat(`\"`, 100) + `"`, 202},
		{`"` + strings.Repeat(`\\`, 100) + `"x`, 202},
		{`"` + strings.Repeat("a", 40) + `\\\"` + strings.Repeat("b", 5) + `"`, 51},
	}
	for _, tt := range tests {
		if got := stringEnd([]byte(tt.text), 0); got != tt.want {
			t.Errorf("stringEnd(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
	// Backslash runs and quotes at every position around the switch from
	// the short loop to the quote search.
	for prefix := 25; prefix < 40; prefix++ {
		for run := 0; run < 6; run++ {
			for _, tail := range []string{`"`, `"x"`, `a"`, ``} {
				text := []byte(`"` + strings.Repeat("a", prefix) + strings.Repeat(`\`, run) + tail)
				if got, want := stringEnd(text, 0), referenceStringEnd(text, 0); got != want {
					t.Errorf("stringEnd(%q) = %d, want %d", text, got, want)
				}
			}
		}
	}
}

// referenceValidString is the obvious byte-by-byte validString.
func referenceValidString(data []byte, start int) (int, bool) {
	for i := start + 1; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return len(data), false
		case c == '\\':
			i++
			switch {
			case i >= len(data):
				return len(data), false
			case strings.IndexByte(`"\/bfnrt`, data[i]) >= 0:
			case data[i] == 'u' && i+4 < len(data) && isHex(data[i+1]) && isHex(data[i+2]) && isHex(data[i+3]) && isHex(data[i+4]):
				i += 4
			default:
				return len(data), false
			}
		}
	}
	return len(data), false
}

// TestValidString holds validString, which steps over sixteen and eight
// bytes at a time, to referenceValidString: each byte value at each
// place of strings of up to 40 bytes, and escapes across the edges of
// those steps.
func TestValidString(t *testing.T) {
	check := func(text []byte) {
		t.Helper()
		end, ok := validString(text, 0)
		if wantEnd, want := referenceValidString(text, 0); end != wantEnd || ok != want {
			t.Errorf("validString(%q) = %d, %v; want %d, %v", text, end, ok, wantEnd, want)
		}
	}
	for n := 1; n <= 40; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				text := []byte(`"` + strings.Repeat("é", n/2) + strings.Repeat("a", n%2))
				text[1+at] = byte(c)
				check(text)
				check(append(text, '"'))
			}
			for _, escape := range []string{`\"`, `\\`, `\u00e9`, `\u00`, `\x`, `\`} {
				text := []byte(`"` + strings.Repeat("a", at) + escape + strings.Repeat("b", n-at) + `"`)
				check(text)
			}
		}
	}
}

func TestSkipValue(t *testing.T) {
	tests := []struct {
		text    string
		depth   int
		want    int
		failure scanFailure
	}{
		{`123,`, 0, 3, scanOK},
		{`-1.5e3}`, 0, 6, scanOK},
		{`true]`, 0, 4, scanOK},
		{`null `, 0, 4, scanOK},
		{`"a,}"x`, 0, 5, scanOK},
		{`{"a":[1,{"b":"}"}]},`, 0, 19, scanOK},
		{`[[],[[]]] `, 0, 9, scanOK},
		{`{"a":"\"}"}x`, 0, 11, scanOK},
		{`{ "a" : [ 1 , { } ] , "b" : { "c" : null } }`, 0, 44, scanOK},
		{`[`, 0, 0, scanInvalid},
		{``, 0, 0, scanInvalid},
		{`[1,]`, 0, 0, scanInvalid},
		{`{"a":1,}`, 0, 0, scanInvalid},
		{`{"a" 1}`, 0, 0, scanInvalid},
		{`{1:1}`, 0, 0, scanInvalid},
		{`[1 2]`, 0, 0, scanInvalid},
		{`[01]`, 0, 0, scanInvalid},
		{`-`, 0, 0, scanInvalid},
		{`1.`, 0, 0, scanInvalid},
		{`1e`, 0, 0, scanInvalid},
		{`tru`, 0, 0, scanInvalid},
		{"\"a\x01\"", 0, 0, scanInvalid},
		{`"\x"`, 0, 0, scanInvalid},
		{`"\u12G4"`, 0, 0, scanInvalid},
		{`{"a":1]`, 0, 0, scanInvalid},
		{`[[]]`, MaxDepth - 2, 4, scanOK},
		{`[[]]`, MaxDepth - 1, 0, scanTooDeep},
	}
	var stack containerStack // shared: no walk may depend on what the last left
	for _, tt := range tests {
		got, failure := skipValue([]byte(tt.text), 0, tt.depth, &stack)
		if failure != tt.failure || failure == scanOK && got != tt.want {
			t.Errorf("skipValue(%q, %d) = %d, %d; want %d, %d", tt.text, tt.depth, got, failure, tt.want, tt.failure)
		}
	}
}

func TestNestingExceeds(t *testing.T) {
	tests := []struct {
		text  string
		limit int
		want  bool
	}{
		{`[]`, 1, false},
		{`[[]]`, 1, true},
		{`{"a":{"b":[1]}}`, 3, false},
		{`{"a":{"b":[1]}}`, 2, true},
		{`["[[[[[[", "{{{{"]`, 1, false},
		{`["\"[[[["]`, 1, false},
		{`[[],[],[]]`, 2, false},
		{`]]]][[`, 2, false},
		{`"unterminated [[[[`, 1, false},
		{nested(1000), 1000, false},
		{nested(1001), 1000, true},
	}
	for _, tt := range tests {
		if got := nestingExceeds([]byte(tt.text), tt.limit); got != tt.want {
			t.Errorf("nestingExceeds(%.40q, %d) = %v, want %v", tt.text, tt.limit, got, tt.want)
		}
	}
}

func TestDecodeString(t *testing.T) {
	tests := []struct {
		raw     string // between the quotes
		want    string
		problem stringProblem
	}{
		{``, ``, stringOK},
		{`plain`, `plain`, stringOK},
		{`tools\/call`, `tools/call`, stringOK},
		{`\"\\\/\b\f\n\r\t`, "\"\\/\b\f\n\r\t", stringOK},
		{`\u0041\u00e9\u20AC`, "Aé€", stringOK},
		{`\ud83d\ude00`, "😀", stringOK},
		{`\uD83D\uDE00`, "😀", stringOK},
		{`é`, "é", stringOK},
		{`\u0000`, ``, stringNUL},
		{`a\u0000`, ``, stringNUL},
		{`\ud800`, ``, stringLoneSurrogate},
		{`\udbff`, ``, stringLoneSurrogate},
		{`\udc00`, ``, stringLoneSurrogate},
		{`\ud800x`, ``, stringLoneSurrogate},
		{`\ud800\n`, ``, stringLoneSurrogate},
		{`\ud800\u0041`, ``, stringLoneSurrogate},
		{`\ud800\ud800`, ``, stringLoneSurrogate},
		{`\ude00\ud83d`, ``, stringLoneSurrogate},
		{"\xff", ``, stringInvalidUTF8},
		{"\xed\xa0\x80", ``, stringInvalidUTF8}, // a surrogate encoded as UTF-8
		{"\xc0\xaf", ``, stringInvalidUTF8},     // overlong "/"
		{"\\n\xff", ``, stringInvalidUTF8},
		{`\x`, ``, stringInvalidUTF8},
		{`\u12`, ``, stringInvalidUTF8},
		{`\`, ``, stringInvalidUTF8},
	}
	for _, tt := range tests {
		got, problem := decodeString([]byte(tt.raw), nil)
		if problem != tt.problem || (problem == stringOK && string(got) != tt.want) {
			t.Errorf("decodeString(%q) = %q, %v; want %q, %v", tt.raw, got, problem, tt.want, tt.problem)
		}
	}
}

func TestResembles(t *testing.T) {
	tests := []struct {
		name string
		want string
		same bool
	}{
		{"method", "method", true},
		{"Method", "method", true},
		{"METHOD", "method", true},
		{"me_thod", "method", true},
		{"-method-", "method", true},
		{"paramſ", "params", true},   // U+017F LATIN SMALL LETTER LONG S
		{"PARAMſ", "params", true},   // U+017F LATIN SMALL LETTER LONG S
		{"jſonrpc", "jsonrpc", true}, // U+017F
		{"methods", "method", false},
		{"metho", "method", false},
		{"meth0d", "method", false},
		{"ｍethod", "method", false}, // fullwidth m: no simple folding to m
		{"", "id", false},
		{"__", "id", false},
		{"I_D", "id", true},
		{"\xffd", "id", false},
	}
	for _, tt := range tests {
		if got := resembles([]byte(tt.name), tt.want); got != tt.same {
			t.Errorf("resembles(%q, %q) = %v, want %v", tt.name, tt.want, got, tt.same)
		}
	}
}

// TestFoldsTo holds foldsTo to Unicode simple case folding for every
// character up to U+3000 against every lower-case ASCII letter (the
// members Read looks for are spelt with those), the ASCII fast path
// included: K (U+212A) folds to k and ſ (U+017F) to s, but no ASCII
// character other than the two cases of a letter folds to it.
func TestFoldsTo(t *testing.T) {
	for want := 'a'; want <= 'z'; want++ {
		for r := rune(0); r < 0x3000; r++ {
			folds := r == want
			for f := unicode.SimpleFold(r); f != r && !folds; f = unicode.SimpleFold(f) {
				folds = f == want
			}
			if got := foldsTo(r, want); got != folds {
				t.Errorf("foldsTo(%q, %q) = %v, want %v", r, want, got, folds)
			}
		}
	}
}

// TestPlainStringEnd holds plainStringEnd to its definition on every
// string of up to two bytes (each byte value at each place): where it says
// plain, validString ends the string at the same index and decodeString
// returns the text unchanged; where it says not plain, the text has a
// byte outside printable ASCII or a backslash, or no closing quote.
func TestPlainStringEnd(t *testing.T) {
	check := func(text []byte) {
		t.Helper()
		end, plain := plainStringEnd(text, 0)
		validEnd, valid := validString(text, 0)
		if plain {
			decoded, problem := decodeString(text[1:end-1], nil)
			if !valid || end != validEnd || problem != stringOK || string(decoded) != string(text[1:end-1]) {
				t.Errorf("plainStringEnd(%q) = %d, plain; validString %d, %v; decoded %q, %v",
					text, end, validEnd, valid, decoded, problem)
			}
			return
		}
		// Not plain: end is the first byte outside printable ASCII or
		// a backslash, or the end of an unterminated string.
		for i, c := range text[1:] {
			if c == '"' {
				t.Errorf("plainStringEnd(%q) = %d, not plain", text, end)
				return
			}
			if c < 0x20 || c == '\\' || c >= 0x80 {
				if end != 1+i {
					t.Errorf("plainStringEnd(%q) = %d, not plain; want %d", text, end, 1+i)
				}
				return
			}
		}
		if end != len(text) {
			t.Errorf("plainStringEnd(%q) = %d, not plain; want %d", text, end, len(text))
		}
	}
	for a := 0; a < 256; a++ {
		check([]byte{'"', byte(a)})
		for b := 0; b < 256; b++ {
			check([]byte{'"', byte(a), byte(b)})
		}
	}
	// Longer strings: each byte value at each place of up to 20 bytes,
	// with a closing quote or none after it.
	for n := 1; n <= 20; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				text := []byte(`"` + strings.Repeat("a", n))
				text[1+at] = byte(c)
				check(text)
				check(append(text, '"'))
				check(append(text, `"}}`...))
			}
		}
	}
	if end, plain := plainStringEnd([]byte(`"method":`), 0); end != 8 || !plain {
		t.Errorf(`plainStringEnd("method") = %d, %v; want 8, plain`, end, plain)
	}
}

// TestSkipValueShortForms holds skipValue's loops for short plain strings
// and integers to validString and validNumber, around the length at
// which it hands a string to validString.
func TestSkipValueShortForms(t *testing.T) {
	var values []string
	for _, n := range []int{0, 1, shortString - 3, shortString - 2, shortString - 1, shortString, shortString + 5} {
		for _, inside := range []string{"a", "é", `\n`, "\x01"} {
			values = append(values, `"`+strings.Repeat(inside, n)+`"`, `"`+strings.Repeat(inside, n))
		}
	}
	values = append(values, "1", "19", "123456789012345678901234567890", "1.5", "1e3", "1E+3", "1.", "1e", "12x", "10", "9-")
	for _, v := range values {
		for _, after := range []string{"", ",", "}"} {
			text := []byte(v + after)
			end, failure := skipValue(text, 0, 0, new(containerStack))
			var wantEnd int
			var ok bool
			if text[0] == '"' {
				wantEnd, ok = validString(text, 0)
			} else {
				wantEnd, ok = validNumber(text, 0)
			}
			if (failure == scanOK) != ok || ok && end != wantEnd {
				t.Errorf("skipValue(%q) = %d, %v; want %d, %v", text, end, failure, wantEnd, ok)
			}
		}
	}
}

// TestMayResemble checks that mayResemble refuses no first byte of a name
// that resembles a member Read looks for.
func TestMayResemble(t *testing.T) {
	for _, want := range append(requestMembers[:], paramsMembers[:]...) {
		for c := 0; c < 256; c++ {
			name := append([]byte{byte(c)}, want[1:]...)
			if resembles(name, want) && !mayResemble(byte(c), want[0]) {
				t.Errorf("mayResemble(%q, %q) = false, but %q resembles %q", byte(c), want[0], name, want)
			}
		}
		for _, name := range []string{"_" + want, "-" + want, strings.ToUpper(want), "ſ" + want[1:], "K" + want[1:]} {
			if resembles([]byte(name), want) && !mayResemble(name[0], want[0]) {
				t.Errorf("mayResemble refuses %q for %q", name, want)
			}
		}
	}
}

func TestSameText(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"", "", true},
		{"tools/call", "tools/call", true},
		{"tools/call", "tools/list", false},
		{"tools/call", "tools/cal", false},
		{"Tools/call", "tools/call", false},
		{"a\x00", "a", false},
	}
	for _, tt := range tests {
		if got := sameText(tt.a, tt.b); got != tt.same {
			t.Errorf("sameText(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
		if got := sameText([]byte(tt.a), tt.b); got != tt.same {
			t.Errorf("sameText([]byte(%q), %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}
