package jsonrpc

import (
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/internal/jsonnum"
)

// appendErrorResponse appends the error response described at
// ErrorResponse to dst.
func appendErrorResponse(dst, id []byte, code int, message string, data []byte) []byte {
	id = trimSpace(id)
	data = trimSpace(data)
	if len(data) > 0 && !isJSONValue(data) {
		data = nil
	}
	if dst == nil {
		size := len(`{"jsonrpc":"2.0","id":,"error":{"code":,"message":"","data":}}`) +
			len(id) + 20 + len(message) + 8 + len(data)
		dst = make([]byte, 0, size)
	}
	dst = append(dst, `{"jsonrpc":"2.0",`...)
	dst = appendIDMember(dst, id)
	dst = append(dst, `"error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, message)
	if len(data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = appendCompact(dst, data)
	}
	return append(dst, "}}"...)
}

// appendIDMember appends `"id":<id>,` for an id ErrorResponse echoes
// (id with its outer whitespace trimmed), nothing for one it leaves out.
func appendIDMember(dst, id []byte) []byte {
	plain := isPlainID(id)
	if !plain && (len(id) == 0 || string(id) == "null" || !isJSONValue(id)) {
		return dst
	}
	dst = append(dst, `"id":`...)
	if plain {
		dst = append(dst, id...)
	} else {
		dst = appendCompact(dst, id)
	}
	return append(dst, ',')
}

// isPlainID reports whether id is a JSON number, or a string of printable
// ASCII without escapes: the ids clients send, which are valid and compact
// as they are, so appendIDMember copies them without validating them
// again.
func isPlainID(id []byte) bool {
	if len(id) >= 2 && id[0] == '"' && id[len(id)-1] == '"' {
		for _, c := range id[1 : len(id)-1] {
			if c < ' ' || c > '~' || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	if end, ok := jsonnum.IntegerEnd(id, 0); ok {
		return end == len(id)
	}
	end, problem := jsonnum.End(id, 0)
	return problem == jsonnum.OK && end == len(id)
}

// RateLimitReply writes the error responses of rate-limited requests for
// one error code and message: what ErrorResponse(id, code, message,
// RateLimitData(n)) returns, with everything after the id encoded once.
type RateLimitReply struct {
	// tail is `"error":{"code":..,"message":..,"data":{"retryAfterSeconds":`.
	tail []byte
}

// NewRateLimitReply encodes the part of the responses that never changes.
func NewRateLimitReply(code int, message string) RateLimitReply {
	tail := append([]byte(`"error":{"code":`), strconv.Itoa(code)...)
	tail = append(tail, `,"message":`...)
	tail = appendString(tail, message)
	tail = append(tail, `,"data":{"retryAfterSeconds":`...)
	return RateLimitReply{tail: tail}
}

// Append appends the response to a request with id (nil for none) whose
// retry is retryAfterSeconds away, given as its decimal text: the text of
// the Retry-After header the caller sends with it, formatted once.
func (r RateLimitReply) Append(dst, id []byte, retryAfterSeconds string) []byte {
	id = trimSpace(id)
	if dst == nil {
		dst = make([]byte, 0, len(`{"jsonrpc":"2.0","id":,}}}`)+len(id)+len(r.tail)+len(retryAfterSeconds))
	}
	dst = append(dst, `{"jsonrpc":"2.0",`...)
	dst = appendIDMember(dst, id)
	dst = append(dst, r.tail...)
	dst = append(dst, retryAfterSeconds...)
	// Byte by byte: three bytes cost less than runtime.memmove's call in
	// a Wasm VM.
	return append(dst, '}', '}', '}')
}

// appendRateLimitData appends {"retryAfterSeconds":N} to dst.
func appendRateLimitData(dst []byte, retryAfterSeconds int64) []byte {
	dst = append(dst, `{"retryAfterSeconds":`...)
	dst = strconv.AppendInt(dst, retryAfterSeconds, 10)
	return append(dst, '}')
}

// trimSpace drops JSON whitespace around a value.
func trimSpace(v []byte) []byte {
	start, end := 0, len(v)
	for start < end && isSpace(v[start]) {
		start++
	}
	for end > start && isSpace(v[end-1]) {
		end--
	}
	return v[start:end]
}

// isJSONValue reports whether v is exactly one valid JSON value (checked
// without recursing deeper than MaxDepth).
func isJSONValue(v []byte) bool {
	return !nestingExceeds(v, MaxDepth) && gjson.ValidBytes(v)
}

// appendCompact appends the valid JSON value v without insignificant
// whitespace. A string, number or literal is copied unchanged.
func appendCompact(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			end := stringEnd(v, i)
			dst = append(dst, v[i:end]...)
			i = end - 1
		case isSpace(c):
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. It escapes '"', '\\', control
// characters, U+2028 and U+2029 (line terminators in JavaScript before
// ES2019), and writes invalid UTF-8 as U+FFFD, so the result is valid JSON
// whatever s holds.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
