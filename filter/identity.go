package filter

import (
	"net/netip"
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
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
func requestIdentity(source *config.UserIdentity) string {
	if source == nil {
		return ""
	}
	switch source.From {
	case config.IdentityHeader:
		value, err := proxywasm.GetHttpRequestHeader(source.Header)
		if err != nil {
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
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().String()
	}
	return host
}
