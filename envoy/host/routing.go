package host

import (
	"net"
	"strings"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
)

// route finds the route of a request (Envoy's virtual host by domain,
// then the first matching route).
func (h *hostImpl) route(authority, p string) (*envoyconfig.Route, bool) {
	vh := h.virtualHost(authority)
	if vh == nil {
		return nil, false
	}
	for i := range vh.Routes {
		rt := &vh.Routes[i]
		pathOnly := p
		if j := strings.IndexByte(pathOnly, '?'); j >= 0 {
			pathOnly = pathOnly[:j]
		}
		if rt.Path != "" && pathOnly == rt.Path {
			return rt, true
		}
		if rt.Path == "" && strings.HasPrefix(p, rt.Prefix) {
			return rt, true
		}
	}
	return nil, false
}

func (h *hostImpl) virtualHost(authority string) *envoyconfig.VirtualHost {
	host := strings.ToLower(authority)
	hostNoPort := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		hostNoPort = hh
	}
	var wildcard *envoyconfig.VirtualHost
	var best *envoyconfig.VirtualHost
	bestLen := -1
	for i := range h.cfg.Listener.VirtualHosts {
		vh := &h.cfg.Listener.VirtualHosts[i]
		for _, d := range vh.Domains {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				if wildcard == nil {
					wildcard = vh
				}
			case d == host || d == hostNoPort:
				return vh
			case strings.HasPrefix(d, "*") && (strings.HasSuffix(host, d[1:]) || strings.HasSuffix(hostNoPort, d[1:])):
				if len(d) > bestLen {
					best, bestLen = vh, len(d)
				}
			case strings.HasSuffix(d, "*") && (strings.HasPrefix(host, d[:len(d)-1])):
				if len(d) > bestLen {
					best, bestLen = vh, len(d)
				}
			}
		}
	}
	if best != nil {
		return best
	}
	return wildcard
}
