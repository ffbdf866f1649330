package filter

import (
	"strings"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
)

// The filter reads every inspected body as UTF-8 JSON text. A server's
// framework may read the same bytes otherwise when the request's headers
// tell it to: Express's json parser (body-parser 2.x, behind the official
// TypeScript SDK's createMcpExpressApp) decodes the body in the charset of
// the Content-Type (any "utf-*" through iconv-lite: UTF-7 and UTF-16 too)
// and inflates a gzip, deflate or br Content-Encoding first; the SDK's
// StreamableHTTPServerTransport reads an unparsed body with the same charset
// (raw-body). A "tools/call" hidden that way would pass the filter
// uncounted, so such requests are refused before their body is read. MCP's
// Streamable HTTP transport sends UTF-8 JSON without a content coding, so no
// conforming client is refused.

// The request headers that say how a body is encoded, in lower case.
const (
	headerContentType      = "content-type"
	headerContentEncoding  = "content-encoding"
	headerTransferEncoding = "transfer-encoding"
)

// mediaTypeJSON is the Content-Type MCP's Streamable HTTP clients send.
const mediaTypeJSON = "application/json"

// bodyEncodingProblem is why a request's headers let a server decode its
// body differently from the filter.
type bodyEncodingProblem uint8

const (
	encodingOK bodyEncodingProblem = iota
	// encodingCharset: the Content-Type names a charset other than UTF-8
	// (or names one twice, or as an RFC 2231 extended parameter).
	encodingCharset
	// encodingMediaType: the Content-Type is not one well-formed media
	// type (RFC 9110 section 8.3.1); parsers recover from such values
	// differently, some finding a charset where others find none.
	encodingMediaType
	// encodingContent: a Content-Encoding other than identity.
	encodingContent
	// encodingTransfer: a Transfer-Encoding other than chunked (Envoy's
	// HTTP/1 codec refuses those itself; checked again in case a host
	// passes one on).
	encodingTransfer
	// encodingDuplicate: more than one Content-Type or Content-Encoding
	// header. Envoy joins repeated values of some headers with a comma
	// and keeps others as separate entries (source/common/http/
	// header_map_impl.cc, inline headers); Node.js keeps the first
	// Content-Type and joins Content-Encodings; Go's Header.Get takes the
	// first. Which one a server reads is not the filter's to guess.
	encodingDuplicate
)

// message is the JSON-RPC error message of the 415 reply. It names the
// problem, not the offending value, so a reply never echoes client input.
func (p bodyEncodingProblem) message() string {
	switch p {
	case encodingCharset:
		return "Unsupported charset in Content-Type: the body must be UTF-8 JSON"
	case encodingMediaType:
		return "Malformed Content-Type header"
	case encodingContent:
		return "Unsupported Content-Encoding: the body must not be compressed"
	case encodingTransfer:
		return "Unsupported Transfer-Encoding"
	case encodingDuplicate:
		return "More than one Content-Type or Content-Encoding header"
	}
	return ""
}

// checkBodyEncoding inspects every entry of a request's header map (as
// proxy_get_header_map_pairs returns them, names in lower case) for headers
// that change how a server decodes the body.
func checkBodyEncoding(headers [][2]string) bodyEncodingProblem {
	contentTypes, contentEncodings := 0, 0
	problem := encodingOK
	note := func(p bodyEncodingProblem) {
		if problem == encodingOK {
			problem = p
		}
	}
	for i := range headers {
		name, value := headers[i][0], headers[i][1] // not the pair: a copy
		switch {
		case equalFoldASCII(name, headerContentType):
			contentTypes++
			note(checkContentType(value))
		case equalFoldASCII(name, headerContentEncoding):
			contentEncodings++
			if v := trimOWS(value); v != "" && !strings.EqualFold(v, "identity") {
				note(encodingContent)
			}
		case equalFoldASCII(name, headerTransferEncoding):
			if !strings.EqualFold(trimOWS(value), "chunked") {
				note(encodingTransfer)
			}
		}
	}
	if contentTypes > 1 || contentEncodings > 1 {
		return encodingDuplicate
	}
	return problem
}

// checkContentType parses a Content-Type value strictly,
//
//	media-type = type "/" subtype parameters
//	parameters = *( OWS ";" OWS [ parameter ] )
//	parameter  = name "=" ( token / quoted-string )
//
// (RFC 9110 sections 5.6 and 8.3.1), and accepts it when it has at most one
// charset parameter and that one is UTF-8, compared as HTTP and body-parser
// compare it: case-insensitively, quoted or not.
func checkContentType(value string) bodyEncodingProblem {
	rest := trimOWS(value)
	_, n := token(rest)
	if n == 0 || n == len(rest) || rest[n] != '/' {
		return encodingMediaType
	}
	rest = rest[n+1:]
	if _, n = token(rest); n == 0 {
		return encodingMediaType
	}
	rest = rest[n:]
	charsets := 0
	for {
		rest = trimLeftOWS(rest)
		if rest == "" {
			break
		}
		if rest[0] != ';' {
			return encodingMediaType
		}
		rest = trimLeftOWS(rest[1:])
		if rest == "" || rest[0] == ';' {
			continue // an empty parameter
		}
		name, n := token(rest)
		if n == 0 || n == len(rest) || rest[n] != '=' {
			return encodingMediaType
		}
		rest = rest[n+1:]
		var paramValue string
		if rest != "" && rest[0] == '"' {
			var ok bool
			paramValue, n, ok = quotedString(rest)
			if !ok {
				return encodingMediaType
			}
		} else if paramValue, n = token(rest); n == 0 {
			return encodingMediaType
		}
		rest = rest[n:]
		lower := strings.ToLower(name)
		switch {
		case lower == "charset":
			charsets++
			if charsets > 1 || !strings.EqualFold(paramValue, "utf-8") {
				return encodingCharset
			}
		case strings.HasPrefix(lower, "charset"):
			// charset*=utf-7''... (RFC 2231) or a look-alike name: no
			// reason to send one, and a lenient parser may honour it.
			return encodingCharset
		}
	}
	return encodingOK
}

// token returns the leading RFC 9110 token of s and its length.
func token(s string) (string, int) {
	i := 0
	for i < len(s) && config.IsTokenChar(rune(s[i])) {
		i++
	}
	return s[:i], i
}

// quotedString reads the quoted-string at the start of s (RFC 9110 section
// 5.6.4) and returns its unescaped content and its length in s.
func quotedString(s string) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, true
		case c == '\\':
			i++
			if i == len(s) || !isQuotedPairChar(s[i]) {
				return "", 0, false
			}
			b.WriteByte(s[i])
		case c == '\t' || c == ' ' || c == 0x21 || (0x23 <= c && c <= 0x7e) || c >= 0x80:
			b.WriteByte(c)
		default:
			return "", 0, false
		}
	}
	return "", 0, false
}

// isQuotedPairChar reports whether c may follow a backslash in a
// quoted-string: HTAB, SP, VCHAR or obs-text.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || (0x20 <= c && c != 0x7f)
}

// trimOWS drops optional whitespace (SP and HTAB) at both ends.
func trimOWS(s string) string {
	s = trimLeftOWS(s)
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// trimLeftOWS drops optional whitespace at the start.
func trimLeftOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}
