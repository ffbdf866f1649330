package config

import (
	"strconv"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/internal/jsonnum"
)

// maxSyntaxDepth bounds the nesting of arrays and objects in a
// configuration, as Go's encoding/json does (10000 levels).
const maxSyntaxDepth = 10000

// syntaxError checks that data is one JSON text (RFC 8259) and describes
// the first syntax error in it: the message and the 1-based byte offset
// Go's encoding/json reports for the same text (json.SyntaxError), so a
// configuration error reads the same as it does from any Go JSON tool. ok is
// true when data is valid JSON.
//
// It walks data once, iteratively, keeping one byte per open array or
// object, so nesting costs no Go stack. A token cut short by the end of
// data is reported, as encoding/json does, as an invalid ' ' at offset
// len(data); an end elsewhere as "unexpected end of JSON input".
func syntaxError(data []byte) (msg string, offset int, ok bool) {
	var open []byte // '{' or '[' for each open object or array
	i := 0
	// at is the byte at j, or a space at the end of data.
	at := func(j int) byte {
		if j < len(data) {
			return data[j]
		}
		return ' '
	}
	invalid := func(j int, context string) (string, int, bool) {
		offset := j + 1
		if j >= len(data) {
			offset = len(data)
		}
		return "invalid character " + quoteChar(at(j)) + " " + context, offset, false
	}
	eof := func() (string, int, bool) { return "unexpected end of JSON input", len(data), false }

value: // a value starts at or after i
	i = skipJSONSpace(data, i)
	if i == len(data) {
		return eof()
	}
	switch c := data[i]; {
	case c == '{' || c == '[':
		open = append(open, c)
		if len(open) > maxSyntaxDepth {
			return invalid(i, "exceeded max depth")
		}
		i = skipJSONSpace(data, i+1)
		if i == len(data) {
			return eof()
		}
		if c == '[' {
			if data[i] == ']' {
				open = open[:len(open)-1]
				i++
				goto end
			}
			goto value
		}
		if data[i] == '}' {
			open = open[:len(open)-1]
			i++
			goto end
		}
		goto key
	case c == '"':
		var context string
		if i, context = skipJSONString(data, i); context != "" {
			return invalid(i, context)
		}
		if i > len(data) {
			return eof()
		}
		goto end
	case c == '-' || '0' <= c && c <= '9':
		var context string
		if i, context = skipJSONNumber(data, i); context != "" {
			return invalid(i, context)
		}
		goto end
	case c == 't' || c == 'f' || c == 'n':
		word := "null"
		if c == 't' {
			word = "true"
		} else if c == 'f' {
			word = "false"
		}
		for k := 1; k < len(word); k++ {
			if at(i+k) != word[k] {
				return invalid(i+k, "in literal "+word+" (expecting "+quoteChar(word[k])+")")
			}
		}
		i += len(word)
		goto end
	default:
		return invalid(i, "looking for beginning of value")
	}

key: // an object member's name starts at i (after spaces)
	if data[i] != '"' {
		return invalid(i, "looking for beginning of object key string")
	}
	{
		var context string
		if i, context = skipJSONString(data, i); context != "" {
			return invalid(i, context)
		}
	}
	if i > len(data) {
		return eof()
	}
	i = skipJSONSpace(data, i)
	if i == len(data) {
		return eof()
	}
	if data[i] != ':' {
		return invalid(i, "after object key")
	}
	i++
	goto value

end: // a value ended just before i
	i = skipJSONSpace(data, i)
	if len(open) == 0 {
		if i < len(data) {
			return invalid(i, "after top-level value")
		}
		return "", 0, true
	}
	if i == len(data) {
		return eof()
	}
	switch c, inside := data[i], open[len(open)-1]; {
	case c == ',' && inside == '[':
		i++
		goto value
	case c == ',':
		i = skipJSONSpace(data, i+1)
		if i == len(data) {
			return eof()
		}
		goto key
	case c == ']' && inside == '[' || c == '}' && inside == '{':
		open = open[:len(open)-1]
		i++
		goto end
	case inside == '[':
		return invalid(i, "after array element")
	default:
		return invalid(i, "after object key:value pair")
	}
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipJSONString reads the string starting with the quote at data[start].
// It returns the index after the closing quote, or len(data)+1 when data
// ends inside the string; or, for a syntax error, its index and context.
func skipJSONString(data []byte, start int) (int, string) {
	for i := start + 1; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, ""
		case c < 0x20:
			return i, "in string literal"
		case c == '\\':
			i++
			if i == len(data) {
				return i, "in string escape code"
			}
			switch data[i] {
			case 'b', 'f', 'n', 'r', 't', '\\', '/', '"':
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k == len(data) || !isHexDigit(data[i+k]) {
						return i + k, `in \u hexadecimal character escape`
					}
				}
				i += 4
			default:
				return i, "in string escape code"
			}
		}
	}
	return len(data) + 1, ""
}

// skipJSONNumber reads the number starting at data[start] and returns the
// index after it; or, for a syntax error, its index and context. What
// follows the number is left to the caller.
func skipJSONNumber(data []byte, start int) (int, string) {
	i, problem := jsonnum.End(data, start)
	switch problem {
	case jsonnum.NoInteger:
		return i, "in numeric literal"
	case jsonnum.NoFraction:
		return i, "after decimal point in numeric literal"
	case jsonnum.NoExponent:
		return i, "in exponent of numeric literal"
	}
	return i, ""
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// quoteChar writes the byte c the way encoding/json's syntax errors do:
// in single quotes, escaped like a Go string except for the quotes
// themselves.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	q := strconv.Quote(string(rune(c)))
	return "'" + q[1:len(q)-1] + "'"
}
