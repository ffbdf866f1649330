package filter

import (
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/jsonrpc"
)

// Envoy attributes the identity sources read
// (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes).
var (
	// propertyPeerPrincipal is the first URI SAN of the peer's certificate.
	propertyPeerPrincipal = []string{"connection", "uri_san_peer_certificate"}
	// propertySourceAddress is the downstream address, "ip:port".
	propertySourceAddress = []string{"source", "address"}
)

// requestIdentity returns the user identity of the current request, or ""
// when the request has none (it is then limited by the shared buckets only).
// The result is a fresh string, never one backed by host-provided memory.
func requestIdentity(source *config.UserIdentity, headers *requestHeaders) string {
	if source == nil {
		return ""
	}
	switch source.From {
	case config.IdentityHeader:
		value, ok := headers.get(source.Header)
		if !ok {
			return ""
		}
		return strings.Clone(value)
	case config.IdentityPeerPrincipal:
		value, err := proxywasm.GetProperty(propertyPeerPrincipal)
		if err != nil {
			return ""
		}
		return string(value)
	case config.IdentitySourceAddress:
		value, err := proxywasm.GetProperty(propertySourceAddress)
		if err != nil {
			return ""
		}
		return hostOfAddress(string(value))
	}
	return ""
}

// hostOfAddress returns the IP of an "ip:port" address without the port,
// so that every connection from one client is one user: "10.0.0.1:5000"
// becomes "10.0.0.1", "[2001:db8::1]:443" becomes "2001:db8::1". IP addresses
// are written in their canonical form, and an IPv4-mapped IPv6 address as the
// IPv4 address it maps, so one client never has two spellings. A value that
// is not an IP address (a pipe path, say) is returned as it is.
func hostOfAddress(address string) string {
	host := address
	switch {
	case strings.HasPrefix(address, "["):
		if end := strings.IndexByte(address, ']'); end > 0 {
			host = address[1:end]
		}
	case strings.Count(address, ":") == 1:
		host = address[:strings.IndexByte(address, ':')]
	}
	if ip, ok := canonicalIP(host); ok {
		return ip
	}
	return host
}

// anonymousUser is the identity of every request without one under
// userIdentity.missing "anonymous". It starts with a NUL byte, which no
// header value, certificate URI or address contains, so no real user
// shares its buckets.
const anonymousUser = "\x00anonymous"

// Reply to a limited request without an identity under
// userIdentity.missing "reject". The filter does not authenticate, so the
// reply names no authentication scheme (no WWW-Authenticate): the
// identity was to come from the layer in front of it.
const (
	statusMissingIdentity  = 401
	messageMissingIdentity = "Missing user identity"
)

// userOf returns the user a limited request's per-user buckets belong to:
// its identity, or for a request without one what userIdentity.missing
// says: no user ("shared"), the anonymous user ("anonymous"), or known
// false ("reject": the request must be refused).
func (s *settings) userOf(identity string) (user string, known bool) {
	source := s.cfg.UserIdentity
	if identity != "" || source == nil {
		return identity, true
	}
	switch source.Missing {
	case config.MissingAnonymous:
		return anonymousUser, true
	case config.MissingReject:
		return "", false
	}
	return "", true
}

// replyMissingIdentity answers a limited request without an identity under
// userIdentity.missing "reject": HTTP 401 with a JSON-RPC -32600 error
// (one per request with an id for a batch), no token taken. In a dry run
// the request is counted and logged, and limited by the buckets that are
// not per user.
func (h *httpContext) replyMissingIdentity(request *examined) types.Action {
	s := h.settings
	s.metrics.identityMissing.Increment(1)
	if s.cfg.DryRun {
		proxywasm.LogInfof("mcp-ratelimit: dry run: would reject a request without a user identity (%d limited calls)", len(request.calls))
		return h.limit(request, "")
	}
	body := errorResponses(request, jsonrpc.CodeInvalidRequest, messageMissingIdentity, nil)
	var headers [][2]string
	if len(body) > 0 {
		headers = [][2]string{{"content-type", "application/json"}}
	}
	h.send(statusMissingIdentity, headers, body)
	return types.ActionPause
}

// errorResponses is the body of an error reply to request: one JSON-RPC
// error with the request's id (none for a notification), or for a batch an
// array of one error per request with an id, or nothing for a batch of
// notifications only (JSON-RPC 2.0 section 6).
func errorResponses(request *examined, code int, message string, data []byte) []byte {
	if !request.batch {
		var id []byte
		if len(request.replyIDs) > 0 {
			id = request.replyIDs[0]
		}
		return jsonrpc.ErrorResponse(id, code, message, data)
	}
	if len(request.replyIDs) == 0 {
		return nil
	}
	body := []byte{'['}
	for i, id := range request.replyIDs {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, jsonrpc.ErrorResponse(id, code, message, data)...)
	}
	return append(body, ']')
}
