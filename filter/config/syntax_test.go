package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// encodingJSONSyntax is what Go's encoding/json says about data: its
// syntax error's message and offset, or ok.
func encodingJSONSyntax(t *testing.T, data []byte) (msg string, offset int, ok bool) {
	t.Helper()
	var raw json.RawMessage
	err := json.Unmarshal(data, &raw)
	if err == nil {
		return "", 0, true
	}
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		t.Fatalf("encoding/json: %v is not a syntax error", err)
	}
	return syntax.Error(), int(syntax.Offset), false
}

// syntaxTests cover every message of the checker: each state of the
// grammar, cut short by the end of the text or followed by a wrong byte.
var syntaxTests = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+3`, `1E-3`, `true`, `false`, `null`, ` {"a" : [ 1 , "b" , {} , [ ] ] } `,
	`"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"`, "\"é€😀\"", `[-0.0e0,123456789012345678901234567890]`,
	``, ` `, `{`, `[`, `"`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `[1`, `[1,`, `"\`, `"\u`, `"\u12`, `"\u123`,
	`-`, `1.`, `1e`, `1e+`, `t`, `tr`, `tru`, `f`, `fa`, `fal`, `fals`, `n`, `nu`, `nul`,
	`x`, `{x}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":1]`, `[1 2]`, `[1}`, `[,]`, `[1,]`, `{,}`, `{"a":1,}`,
	`01`, `[01]`, `{"a":01}`, `-a`, `1.a`, `1ea`, `1e+a`, `+1`, `.5`, `1x`, `[1x]`, `{"a":1x}`,
	`tx`, `trx`, `trux`, `fx`, `fax`, `falx`, `falsx`, `nx`, `nux`, `nulx`, `true false`, `{} {}`, `1 2`, `{}x`,
	"\"a\x00\"", "\"a\tb\"", "\"\x1f\"", `"\x"`, `"\U0041"`, `"\u12g4"`, `"\u'"`, `'a'`, `["'"]`, `[""",]`,
	"\x00", "\x7f", "\u00e9", "[\u00e9]", "\v1", "1\v", "\ufeff{}", "{\"a\":\"b\"}\n", "\r\n\t [\r\n\t 1\r\n\t ]\r\n\t ",
	`[[[]]]`, `{"a":{"b":{"c":[{}]}}}`, `[[[]]`, `[[[]]]]`, `{"a":{"b":1}}}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001),
	strings.Repeat("[", 10000),
}

// TestSyntaxErrorMatchesEncodingJSON checks that the configuration's
// syntax errors read exactly as encoding/json's, at the same offsets.
func TestSyntaxErrorMatchesEncodingJSON(t *testing.T) {
	for _, text := range syntaxTests {
		checkSyntaxLikeEncodingJSON(t, []byte(text))
	}
}

// FuzzSyntaxError checks the same on any input.
func FuzzSyntaxError(f *testing.F) {
	for _, text := range syntaxTests {
		if len(text) < 1000 {
			f.Add([]byte(text))
		}
	}
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(checkSyntaxLikeEncodingJSON)
}

func checkSyntaxLikeEncodingJSON(t *testing.T, data []byte) {
	msg, offset, ok := syntaxError(data)
	wantMsg, wantOffset, wantOK := encodingJSONSyntax(t, data)
	if msg != wantMsg || offset != wantOffset || ok != wantOK {
		t.Errorf("%.60q: got %q at %d (valid %t); encoding/json says %q at %d (valid %t)",
			data, msg, offset, ok, wantMsg, wantOffset, wantOK)
	}
}
