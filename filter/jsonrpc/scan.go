package jsonrpc

import (
	"bytes"
	"math/bits"
	"unicode"
	"unicode/utf8"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/internal/jsonnum"
)

// Low-level scanning of JSON text.
//
// Read walks a body once: the same pass checks the grammar of RFC 8259
// (what gjson.ValidBytes accepts: no UTF-8 check inside strings), the
// nesting depth, and finds the members Read looks at. The helpers work on
// the body in place and allocate nothing; they check every index, so no
// input can make them panic.

// nestingExceeds reports whether arrays and objects in data nest deeper
// than limit, counting brackets outside strings whether or not data is
// valid JSON. Read uses it only for a body that is not valid JSON, to say
// which of the two problems it reports (the depth one, as it always has).
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

// sameText reports whether a and b hold the same bytes. Unlike ==, it is
// a loop the compiler inlines: in a Wasm VM, == on two strings of one
// length calls runtime.memequal and memeqbody, and a Go call costs more
// there than comparing the few bytes of a member or method name.
func sameText[A, B ~[]byte | ~string](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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

// validString returns the index just past the string whose opening quote
// is at data[start]; false when the string is not valid JSON (a raw
// control character, a bad escape, no closing quote). Like gjson, it does
// not check UTF-8 (Read checks the strings it decodes).
func validString(data []byte, start int) (int, bool) {
	i := start + 1
	for {
		// Sixteen, then eight bytes at a time while none is special: in a
		// Wasm VM a loop iteration costs more than the word arithmetic.
		for i+16 <= len(data) {
			if specialBits(load64(data, i))|specialBits(load64(data, i+8)) != 0 {
				break
			}
			i += 16
		}
		for i+8 <= len(data) {
			if hasSpecialByte(load64(data, i)) {
				break
			}
			i += 8
		}
		if i >= len(data) {
			return len(data), false
		}
		c := data[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i >= len(data) {
				return len(data), false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(data) || !isHex(data[i+1]) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) {
					return len(data), false
				}
				i += 5
			default:
				return len(data), false
			}
		case c < 0x20:
			return len(data), false
		default:
			i++
		}
	}
}

// hasSpecialByte reports whether any of the eight bytes of w is below 0x20,
// a quote or a backslash (the exact tests of "Bit Twiddling Hacks":
// haszero and hasless).
func hasSpecialByte(w uint64) bool { return specialBits(w) != 0 }

// Words of eight bytes: one in each byte, and each byte's high bit.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// specialBits is non-zero when hasSpecialByte(w) holds: it sets the high
// bit of each byte of w below 0x20, quote or backslash, and may set it
// wrongly only in a byte above one it sets rightly.
func specialBits(w uint64) uint64 {
	quote, backslash := w^(lowBits*'"'), w^(lowBits*'\\')
	less := (w - lowBits*0x20) &^ w
	zeroQ := (quote - lowBits) &^ quote
	zeroB := (backslash - lowBits) &^ backslash
	return (less | zeroQ | zeroB) & highBits
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// validNumber returns the index just past the number starting at
// data[start] (RFC 8259, section 6); false when it is not one.
func validNumber(data []byte, start int) (int, bool) {
	end, problem := jsonnum.End(data, start)
	return end, problem == jsonnum.OK
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// validLiteral returns the index just past word (true, false or null) when
// data has it at start.
func validLiteral(data []byte, start int, word string) (int, bool) {
	if len(data)-start < len(word) || string(data[start:start+len(word)]) != word {
		return start, false
	}
	return start + len(word), true
}

// scanFailure says why a walk stopped: the text is not valid JSON, or it
// nests deeper than MaxDepth.
type scanFailure uint8

const (
	scanOK scanFailure = iota
	scanInvalid
	scanTooDeep
)

// containerStack holds the kind of each array or object skipValue has
// open, one bit each (set: an object). skipValue writes a level's bit
// when it opens the container and reads only bits it wrote, so the
// stack is never cleared (see Scratch).
type containerStack [(MaxDepth + 63) / 64]uint64

// skipValue validates the JSON value starting at data[start] (which must
// not be whitespace) and returns the index just past it. depth is the
// number of arrays and objects the value is inside; the value may nest
// MaxDepth-depth levels more. It is iterative, its open containers kept
// in stack.
func skipValue(data []byte, start, depth int, stack *containerStack) (int, scanFailure) {
	// A short plain string or a plain integer (most member values) ends
	// here, without the container loop.
	if start < len(data) {
		if c := data[start]; c == '"' {
			if end, plain := plainStringEnd(data[:min(len(data), start+shortString)], start); plain {
				return end, scanOK
			}
		} else if end, ok := jsonnum.IntegerEnd(data, start); ok {
			return end, scanOK
		}
	}
	open := 0 // containers opened by this walk
	i := start
	for {
		// A value starts at data[i].
		if i >= len(data) {
			return i, scanInvalid
		}
		var ok bool
		switch c := data[i]; {
		case c == '"':
			// A short plain string (most values) in the loop here; any
			// other through validString, which crosses a long string
			// sixteen bytes a step. In a Wasm VM a call costs more than
			// the bytes of a short string.
			end, plain := plainStringEnd(data[:min(len(data), i+shortString)], i)
			if plain {
				i, ok = end, true
			} else {
				i, ok = validString(data, i)
			}
		case c == '{' || c == '[':
			if depth+open+1 > MaxDepth {
				return i, scanTooDeep
			}
			object := c == '{'
			if object {
				stack[open/64] |= 1 << (open % 64)
			} else {
				stack[open/64] &^= 1 << (open % 64)
			}
			open++
			i = skipSpace(data, i+1)
			if i < len(data) && (object && data[i] == '}' || !object && data[i] == ']') {
				i++
				open--
				ok = true
				break
			}
			if object {
				if i, ok = validMemberName(data, i); !ok {
					return i, scanInvalid
				}
			}
			continue // the first value of the container
		case c == '-' || isDigit(c):
			// A plain integer (most ids) without a call; any other
			// number through validNumber.
			if i, ok = jsonnum.IntegerEnd(data, i); !ok {
				i, ok = validNumber(data, i)
			}
		case c == 't':
			i, ok = validLiteral(data, i, "true")
		case c == 'f':
			i, ok = validLiteral(data, i, "false")
		case c == 'n':
			i, ok = validLiteral(data, i, "null")
		}
		if !ok {
			return i, scanInvalid
		}
		// After a value: close containers, or go on to the next value.
		for {
			if open == 0 {
				return i, scanOK
			}
			object := stack[(open-1)/64]&(1<<((open-1)%64)) != 0
			i = skipSpace(data, i)
			if i >= len(data) {
				return i, scanInvalid
			}
			switch c := data[i]; {
			case c == ',':
				i = skipSpace(data, i+1)
				if object {
					if i, ok = validMemberName(data, i); !ok {
						return i, scanInvalid
					}
				}
			case object && c == '}' || !object && c == ']':
				i++
				open--
				continue
			default:
				return i, scanInvalid
			}
			break
		}
	}
}

// validMemberName validates the member name at data[i] and the colon
// after it, and returns the index of the member's value (whitespace
// skipped).
func validMemberName(data []byte, i int) (int, bool) {
	_, valueStart, _, ok := validMember(data, i)
	return valueStart, ok
}

// validMember is validMemberName that also returns the index just past
// the name's closing quote, and whether the name is plain (see
// plainStringEnd).
func validMember(data []byte, i int) (nameEnd, valueStart int, plain, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return i, i, false, false
	}
	// Nearly every member name is plain, and the loop over it is inlined:
	// validString is a call, which in a Wasm VM costs more than the loop.
	if nameEnd, plain = plainStringEnd(data, i); !plain {
		if nameEnd, ok = validString(data, i); !ok {
			return nameEnd, nameEnd, false, false
		}
	}
	i = skipSpace(data, nameEnd)
	if i >= len(data) || data[i] != ':' {
		return nameEnd, i, plain, false
	}
	return nameEnd, skipSpace(data, i+1), plain, true
}

// shortString bounds the strings skipValue reads with plainStringEnd.
const shortString = 64

// plainStringEnd returns the index just past the string whose opening
// quote is at data[start] when the string is plain: printable ASCII
// without escapes, which is valid JSON and decodes to itself. It returns
// false for any other string (which may still be valid).
//
// It looks at eight bytes a step while eight remain: in a Wasm VM every
// turn of a loop is an indirect jump (Go's wasm code jumps between its
// blocks through one table), which costs more than the word arithmetic.
func plainStringEnd(data []byte, start int) (int, bool) {
	i := start + 1
	for ; i+8 <= len(data); i += 8 {
		w := load64(data, i)
		if stop := specialBits(w) | w&highBits; stop != 0 {
			// The lowest flagged byte is the first that is not plain
			// (specialBits flags no byte wrongly below a right one).
			i += bits.TrailingZeros64(stop) >> 3
			if data[i] == '"' {
				return i + 1, true
			}
			return i, false
		}
	}
	for ; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20 || c == '\\' || c >= utf8.RuneSelf:
			return i, false
		}
	}
	return len(data), false
}

// span is a half-open byte range [start, end) of the body.
type span struct{ start, end int }

// member is one member of a JSON object: its name (the text between the
// quotes, still escaped) and where its value starts.
type member struct {
	name       span
	plainName  bool // the name is plain (see plainStringEnd): no need to decode it
	valueStart int
}

// objectIter walks the members of an object, validating it as it goes.
// After next, the caller says where the member's value ends: skipValue
// validates the value and finds its end, or endValue sets it when the
// caller walked the value itself.
type objectIter struct {
	data  []byte
	i     int
	depth int // the object's own depth (1 for a top-level object)
	// stack is skipValue's memory.
	stack *containerStack
	// failure is set once the walk met text that is not valid JSON or
	// that nests too deep.
	failure scanFailure
	started bool // next has returned a member
}

// start starts a walk of the object whose '{' is at data[start], depth
// arrays and objects deep (itself included), forgetting any earlier walk:
// a method on the caller's variable, where a constructor's result would
// be copied (in a Wasm VM copying a struct of this size is a call).
func (it *objectIter) start(data []byte, start, depth int, stack *containerStack) {
	it.data, it.i, it.depth, it.stack = data, start+1, depth, stack
	it.failure, it.started = scanOK, false
	switch {
	case start >= len(data) || data[start] != '{':
		it.failure = scanInvalid
	case depth > MaxDepth:
		it.failure = scanTooDeep
	}
}

// next returns the next member; false at the end of the object, where
// it.i is the index of its '}', or when the walk failed (it.failure).
func (it *objectIter) next() (member, bool) {
	if it.failure != scanOK {
		return member{}, false
	}
	data := it.data
	i := skipSpace(data, it.i)
	switch {
	case i >= len(data):
		it.failure = scanInvalid
		return member{}, false
	case data[i] == '}':
		it.i = i
		return member{}, false
	case it.started:
		if data[i] != ',' {
			it.failure = scanInvalid
			return member{}, false
		}
		i = skipSpace(data, i+1)
	}
	if i >= len(data) || data[i] != '"' {
		it.failure = scanInvalid
		return member{}, false
	}
	// A plain name and its colon in the loops here (most members), any
	// other through validMember: in a Wasm VM a call costs more than
	// the bytes of a name.
	nameEnd, plain := plainStringEnd(data, i)
	valueStart := skipSpace(data, nameEnd)
	if plain && valueStart < len(data) && data[valueStart] == ':' {
		valueStart = skipSpace(data, valueStart+1)
	} else {
		var ok bool
		if nameEnd, valueStart, plain, ok = validMember(data, i); !ok {
			it.failure = scanInvalid
			return member{}, false
		}
	}
	if valueStart >= len(data) {
		it.failure = scanInvalid
		return member{}, false
	}
	it.started = true
	it.i = valueStart
	return member{name: span{i + 1, nameEnd - 1}, plainName: plain, valueStart: valueStart}, true
}

// skipValue validates the value of the member next returned and returns
// the index just past it. After a failure the index means nothing (next
// then ends the walk). Small enough to inline.
func (it *objectIter) skipValue() int {
	it.i, it.failure = skipValue(it.data, it.i, it.depth, it.stack)
	return it.i
}

// endValue records that the value of the member next returned ends just
// before end.
func (it *objectIter) endValue(end int) {
	if end <= it.i || end > len(it.data) {
		it.failure = scanInvalid
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
	if plainASCII(raw) {
		// The common case (member names, methods, tool names), in one
		// pass instead of a search for a backslash and a UTF-8 check.
		return raw, stringOK
	}
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

// plainASCII reports whether raw is ASCII without a backslash.
func plainASCII(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
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

// mayResemble is a quick test of the first byte of a name that resembles
// want: false only when resembles(name, want) is false. want0 is a
// lower-case ASCII letter; ASCII letters differ from their other case in
// bit 0x20 alone.
func mayResemble(name0, want0 byte) bool {
	return name0 == '-' || name0 == '_' || name0 >= utf8.RuneSelf || name0|0x20 == want0
}

// foldsTo reports whether r is want under Unicode simple case folding.
func foldsTo(r, want rune) bool {
	if r == want {
		return true
	}
	if r < utf8.RuneSelf {
		// An ASCII letter folds to its other case and, for k and s, to
		// non-ASCII letters; want is a lower-case ASCII letter.
		return r+('a'-'A') == want
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f == want {
			return true
		}
	}
	return false
}
