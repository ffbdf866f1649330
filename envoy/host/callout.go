package host

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// maxCalloutTimeout bounds callouts that set no timeout, so the host never
// hangs (Envoy would wait without limit).
const maxCalloutTimeout = 60 * time.Second

// httpCall sends a module's proxy_http_call to its cluster.
func (h *hostImpl) httpCall(c proxywasm.Callout, done func(proxywasm.CalloutResponse)) {
	cl := h.clusters[c.Cluster]
	hm := filterchain.NewHeaderMap(c.Headers...)
	method, _ := hm.Get(":method")
	p, _ := hm.Get(":path")
	authority, _ := hm.Get(":authority")
	timeout := c.Timeout
	if timeout <= 0 || timeout > maxCalloutTimeout {
		timeout = maxCalloutTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var body io.Reader = http.NoBody
	if len(c.Body) > 0 {
		body = strings.NewReader(string(c.Body))
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+cl.endpoint()+p, body)
	if err != nil {
		done(proxywasm.CalloutResponse{Err: err})
		return
	}
	req.Host = authority
	for _, pair := range c.Headers {
		if strings.HasPrefix(pair[0], ":") || hopByHop[pair[0]] || pair[0] == "content-length" {
			continue
		}
		req.Header.Add(pair[0], pair[1])
	}
	resp, err := cl.transport.RoundTrip(req)
	if err != nil {
		done(proxywasm.CalloutResponse{Err: err})
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(h.cfg.Listener.BufferLimit)+1))
	if err != nil {
		done(proxywasm.CalloutResponse{Err: err})
		return
	}
	if len(data) > h.cfg.Listener.BufferLimit {
		// Envoy's async client fails with ExceedResponseBufferLimit.
		done(proxywasm.CalloutResponse{Err: errors.New("response exceeds the buffer limit")})
		return
	}
	out := proxywasm.CalloutResponse{Headers: [][2]string{{":status", strconv.Itoa(resp.StatusCode)}}, Body: data}
	for name, values := range resp.Header {
		for _, v := range values {
			out.Headers = append(out.Headers, [2]string{strings.ToLower(name), v})
		}
	}
	for name, values := range resp.Trailer {
		for _, v := range values {
			out.Trailers = append(out.Trailers, [2]string{strings.ToLower(name), v})
		}
	}
	done(out)
}
