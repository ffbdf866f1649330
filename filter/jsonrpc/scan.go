package jsonrpc

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// Low-level scanning of JSON text.
//
// Validation is gjson's (gjson.ValidBytes, the grammar of RFC 8259). The
// helpers here only walk text that has already been validated, so they
// never need to report a syntax error; they still check every index, so a
// bug can make them stop early (the caller then refuses the body) but never
// panic. They work on the body in place and allocate nothing, unlike
// gjson's ForEach and Get, which unescape (copy) every escaped string they
// pass over and, with GetBytes, copy the results.

// nestingExceeds reports whether arrays and objects in data nest deeper
// than limit. It is iterative and skips over strings, so it is safe to run
// on any input before a recursive parser sees it.
func nestingExceeds(data []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			i = stringEnd(data, i) - 1
		case '{', '[':
			depth++
			if depth > limit {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// stringEnd returns the index just past the string whose opening quote is
// at data[start], or len(data) when it is not terminated.
func stringEnd(data []byte, start int) int {
	// Most strings in a request are short, often with escapes: a plain
	// loop over the first bytes.
	i := start + 1
	for n := 0; n < 32 && i < len(data); i, n = i+1, n+1 {
		switch data[i] {
		case '\\':
			i++ // skip the escaped byte, which may be a quote
		case '"':
			return i + 1
		}
	}
	// A long string: jump from quote to quote (bytes.IndexByte is vector
	// code on amd64 and a word-wise memchr on wasm). A quote ends the
	// string unless an odd number of backslashes precede it.
	for i < len(data) {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			break
		}
		i += j
		backslashes := 0
		for k := i - 1; k > start && data[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return i + 1
		}
		i++
	}
	return len(data)
}

// isSpace reports JSON's insignificant whitespace (RFC 8259, section 2).
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at
// data[start] (which must not be whitespace).
func valueEnd(data []byte, start int) int {
	if start >= len(data) {
		return len(data)
	}
	switch data[start] {
	case '"':
		return stringEnd(data, start)
	case '{', '[':
		depth := 0
		for i := start; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = stringEnd(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(data)
	default: // number, true, false, null
		i := start
		for i < len(data) && !isSpace(data[i]) && data[i] != ',' && data[i] != '}' && data[i] != ']' {
			i++
		}
		return i
	}
}

// span is a half-open byte range [start, end) of the body.
type span struct{ start, end int }

// member is one member of a JSON object: its name (the text between the
// quotes, still escaped) and where its value starts.
type member struct {
	name       span
	valueStart int
}

// objectIter walks the members of an object in validated JSON text. After
// next, the caller says where the member's value ends: skipValue finds it,
// or endValue sets it when the caller walked the value itself.
type objectIter struct {
	data []byte
	i    int
	ok   bool // false once the walk met something unexpected
}

// newObjectIter starts a walk of the object whose '{' is at data[start].
func newObjectIter(data []byte, start int) objectIter {
	return objectIter{data: data, i: start + 1, ok: start < len(data) && data[start] == '{'}
}

// next returns the next member; false at the end of the object, where
// it.i is the index of its '}', or when the text is not what validated
// JSON must look like (then it.ok is false).
func (it *objectIter) next() (member, bool) {
	if !it.ok {
		return member{}, false
	}
	data := it.data
	i := skipSpace(data, it.i)
	if i < len(data) && data[i] == ',' {
		i = skipSpace(data, i+1)
	}
	if i >= len(data) || data[i] == '}' {
		it.ok = i < len(data)
		it.i = i
		return member{}, false
	}
	if data[i] != '"' {
		it.ok = false
		return member{}, false
	}
	nameEnd := stringEnd(data, i)
	m := member{name: span{i + 1, nameEnd - 1}}
	i = skipSpace(data, nameEnd)
	if i >= len(data) || data[i] != ':' {
		it.ok = false
		return member{}, false
	}
	m.valueStart = skipSpace(data, i+1)
	if m.valueStart >= len(data) {
		it.ok = false
		return member{}, false
	}
	it.i = m.valueStart
	return m, true
}

// skipValue moves past the value of the member next returned and returns
// the index just past it.
func (it *objectIter) skipValue() int {
	it.i = valueEnd(it.data, it.i)
	return it.i
}

// endValue records that the value of the member next returned ends just
// before end.
func (it *objectIter) endValue(end int) {
	if end <= it.i || end > len(it.data) {
		it.ok = false
		return
	}
	it.i = end
}

// stringProblem says why a JSON string cannot be read unambiguously.
type stringProblem uint8

const (
	stringOK stringProblem = iota
	// stringInvalidUTF8: raw bytes that are not UTF-8. Parsers replace
	// them with U+FFFD, drop them, or fail.
	stringInvalidUTF8
	// stringLoneSurrogate: a \uD800-\uDFFF escape not part of a pair.
	// Parsers replace it with U+FFFD, keep it (WTF-8), or fail.
	stringLoneSurrogate
	// stringNUL: a U+0000 character, which parsers built on C strings
	// read as the end of the string.
	stringNUL
)

// describe returns the problem in words, for error messages.
func (p stringProblem) describe() string {
	switch p {
	case stringInvalidUTF8:
		return "is not valid UTF-8"
	case stringLoneSurrogate:
		return "contains a lone UTF-16 surrogate escape"
	case stringNUL:
		return "contains a NUL character"
	}
	return "is valid"
}

// decodeString decodes the text between the quotes of a validated JSON
// string. Without escapes it returns raw itself (no copy); with escapes it
// appends the decoded bytes to scratch[:0] and returns that (allocating only
// when scratch is too small). It refuses what parsers read differently:
// invalid UTF-8, lone surrogate escapes and U+0000.
func decodeString(raw, scratch []byte) ([]byte, stringProblem) {
	if bytes.IndexByte(raw, '\\') < 0 {
		if !utf8.Valid(raw) {
			return nil, stringInvalidUTF8
		}
		// A raw control character (U+0000 included) is invalid JSON, so
		// validated text has none.
		return raw, stringOK
	}
	out := scratch[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(raw) {
			return nil, stringInvalidUTF8
		}
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw, i+1)
			if !ok {
				return nil, stringInvalidUTF8
			}
			i += 4
			switch {
			case r == 0:
				return nil, stringNUL
			case r >= 0xDC00 && r <= 0xDFFF:
				return nil, stringLoneSurrogate
			case r >= 0xD800 && r <= 0xDBFF:
				// The low half must follow at once: \uDC00-\uDFFF.
				if i+7 > len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
					return nil, stringLoneSurrogate
				}
				low, ok := hex4(raw, i+3)
				if !ok || low < 0xDC00 || low > 0xDFFF {
					return nil, stringLoneSurrogate
				}
				i += 6
				r = 0x10000 + (r-0xD800)<<10 + (low - 0xDC00)
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, stringInvalidUTF8
		}
	}
	if !utf8.Valid(out) {
		return nil, stringInvalidUTF8
	}
	return out, stringOK
}

// hex4 decodes the four hex digits at raw[i:i+4].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// resembles reports whether name would match want in a parser that matches
// member names loosely: Unicode simple case folding, as Go's encoding/json
// does for struct fields (so "ſ", U+017F, matches "s" and "K", U+212A,
// matches "k"), and ignoring '-' and '_', as encoding/json/v2 does for
// case-insensitive names. want must be lower-case ASCII letters.
func resembles(name []byte, want string) bool {
	j := 0
	for i := 0; i < len(name); {
		c := name[i]
		if c == '-' || c == '_' {
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(name[i:])
		}
		i += size
		if j >= len(want) || !foldsTo(r, rune(want[j])) {
			return false
		}
		j++
	}
	return j == len(want)
}

// foldsTo reports whether r is want under Unicode simple case folding.
func foldsTo(r, want rune) bool {
	if r == want {
		return true
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f == want {
			return true
		}
	}
	return false
}
