package host

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// maxCalloutTimeout bounds callouts that set no timeout, so the host never
// hangs (Envoy would wait without limit).
const maxCalloutTimeout = 60 * time.Second

// errResponseTooLarge is Envoy's async client's ExceedResponseBufferLimit.
var errResponseTooLarge = errors.New("response exceeds the buffer limit")

// httpCall sends a module's proxy_http_call to its cluster, over a
// kept-alive connection of the cluster's callout pool (Envoy's async
// client uses the cluster's connection pool too).
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
	addr := cl.endpoint()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+p, body)
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
	resp, data, err := cl.exchange(ctx, addr, req, h.cfg.Listener.BufferLimit)
	if err != nil {
		done(proxywasm.CalloutResponse{Err: err})
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

// exchange sends req to addr on a pooled connection and reads the whole
// response, at most limit bytes of body, before ctx's deadline. A kept-
// alive connection the server closed while it was idle fails before any
// byte of the response; the request is then sent once more on a new
// connection (the server never saw it).
func (c *cluster) exchange(ctx context.Context, addr string, req *http.Request, limit int) (*http.Response, []byte, error) {
	deadline, _ := ctx.Deadline()
	for attempt := 0; ; attempt++ {
		cc, reused, err := c.takeConn(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		_ = cc.SetDeadline(deadline)
		resp, data, received, err := cc.exchange(req, limit)
		if err == nil {
			if resp.Close {
				_ = cc.Close()
			} else {
				c.putConn(addr, cc)
			}
			return resp, data, nil
		}
		_ = cc.Close()
		if reused && !received && attempt == 0 && closedByPeer(err) {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, nil, err
				}
			}
			continue
		}
		return nil, nil, err
	}
}

// exchange writes req and reads its response on cc; received says whether
// any byte of the response arrived. After an error cc must be closed.
func (cc *calloutConn) exchange(req *http.Request, limit int) (resp *http.Response, data []byte, received bool, err error) {
	if err := req.Write(cc.w); err != nil {
		return nil, nil, false, err
	}
	if err := cc.w.Flush(); err != nil {
		return nil, nil, false, err
	}
	if _, err := cc.r.Peek(1); err != nil {
		return nil, nil, false, err
	}
	for {
		resp, err = http.ReadResponse(cc.r, req)
		if err != nil {
			return nil, nil, true, err
		}
		// Informational answers (100 Continue...) precede the response.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, nil, true, err
	}
	if len(data) > limit {
		return nil, nil, true, errResponseTooLarge
	}
	// The body is read to its end: the connection can carry the next call.
	if err := resp.Body.Close(); err != nil {
		return nil, nil, true, err
	}
	return resp, data, true, nil
}

// closedByPeer: the error of a connection the other side had closed.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
