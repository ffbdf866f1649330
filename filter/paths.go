package filter

import (
	"path"
	"strings"
)

// Path matching.
//
// The filter must inspect every request the upstream MCP server routes to its
// MCP endpoint: a request it fails to match passes uncounted. Servers and
// frameworks differ in how they read a request target (Go's ServeMux cleans
// "//mcp" and "/a/../mcp", Java containers drop ";params" from segments,
// some servers decode "%2F", match case-insensitively or accept "\" as a
// separator). So both the configured prefixes and the request path are
// brought to one normal form that is at least as broad as any of those
// readings, and a request is inspected when its normal form lies under a
// configured prefix segment by segment. Matching more than the server routes
// costs only an inspection of a request the server would not treat as MCP;
// matching less would be a bypass.
//
// The normal form:
//   - the query ("?...") and fragment ("#...") are dropped;
//   - an absolute-form target ("http://host/mcp") keeps only its path;
//   - percent-escapes are decoded, repeatedly (so "%252F" becomes "/"),
//     malformed escapes are kept as they are;
//   - "\" is read as "/";
//   - ";parameters" are dropped from every segment;
//   - ASCII letters are lower-cased;
//   - empty, "." and ".." segments are resolved (path.Clean);
//   - a trailing "/" is dropped.
//
// Operators should still normalise paths in Envoy so that the server sees
// what the filter matched: HttpConnectionManager normalize_path: true,
// merge_slashes: true and path_with_escaped_slashes_action:
// UNESCAPE_AND_REDIRECT (envoy.extensions.filters.network.
// http_connection_manager.v3.HttpConnectionManager).

// maxDecodeRounds bounds the repeated percent-decoding; each round that
// changes anything shortens the path, so this only guards against waste.
const maxDecodeRounds = 4

// normalizePath returns the normal form of a request target or of a
// configured prefix, as described above. The result always starts with "/".
func normalizePath(target string) string {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	target = stripSchemeAndAuthority(target)
	for range maxDecodeRounds {
		decoded := percentDecode(target)
		if decoded == target {
			break
		}
		target = decoded
	}
	target = strings.ReplaceAll(target, `\`, "/")
	target = dropSegmentParameters(target)
	target = asciiLower(target)
	// path.Clean resolves "//", "." and ".." and drops a trailing slash;
	// rooting the path first keeps ".." from climbing above "/".
	return path.Clean("/" + target)
}

// stripSchemeAndAuthority turns an absolute-form request target
// ("http://host:port/p") into its path ("/p"). Envoy normally does this
// itself for HTTP/1.1; this keeps the filter safe when it does not.
func stripSchemeAndAuthority(target string) string {
	lower := asciiLower(target[:min(len(target), len("https://"))])
	var rest string
	switch {
	case strings.HasPrefix(lower, "http://"):
		rest = target[len("http://"):]
	case strings.HasPrefix(lower, "https://"):
		rest = target[len("https://"):]
	default:
		return target
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// percentDecode decodes every well-formed %XX escape once and keeps
// malformed ones unchanged.
func percentDecode(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, okHi := unhex(s[i+1])
			lo, okLo := unhex(s[i+2])
			if okHi && okLo {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// dropSegmentParameters removes ";..." from every path segment
// ("/mcp;jsessionid=1/x" becomes "/mcp/x").
func dropSegmentParameters(p string) string {
	if strings.IndexByte(p, ';') < 0 {
		return p
	}
	segments := strings.Split(p, "/")
	for i, segment := range segments {
		if j := strings.IndexByte(segment, ';'); j >= 0 {
			segments[i] = segment[:j]
		}
	}
	return strings.Join(segments, "/")
}

// asciiLower lower-cases ASCII letters only, leaving other bytes (and so
// any UTF-8 sequence) untouched.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// pathMatcher says whether a request path lies under one of the configured
// prefixes. The zero value (no prefixes) matches every path.
type pathMatcher struct {
	prefixes []string // normal forms
}

// newPathMatcher normalises the configured prefixes once.
func newPathMatcher(prefixes []string) pathMatcher {
	m := pathMatcher{}
	for _, p := range prefixes {
		m.prefixes = append(m.prefixes, normalizePath(p))
	}
	return m
}

// matches reports whether target (the ":path" pseudo-header) is under a
// configured prefix, segment-wise: "/mcp" matches "/mcp", "/mcp/" and
// "/mcp/x" but not "/mcpx".
func (m pathMatcher) matches(target string) bool {
	if len(m.prefixes) == 0 {
		return true
	}
	p := normalizePath(target)
	for _, prefix := range m.prefixes {
		if prefix == "/" || p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}
