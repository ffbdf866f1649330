package host

import (
	"bufio"
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
	req := &calloutRequest{headers: c.Headers, body: c.Body}
	req.method, _ = hm.Get(":method")
	req.path, _ = hm.Get(":path")
	req.authority, _ = hm.Get(":authority")
	timeout := c.Timeout
	if timeout <= 0 || timeout > maxCalloutTimeout {
		timeout = maxCalloutTimeout
	}
	resp, data, err := cl.exchange(time.Now().Add(timeout), cl.endpoint(), req, h.cfg.Listener.BufferLimit)
	if err != nil {
		done(proxywasm.CalloutResponse{Err: err})
		return
	}
	out := proxywasm.CalloutResponse{Headers: make([][2]string, 1, 1+len(resp.Header)), Body: data}
	out.Headers[0] = [2]string{":status", strconv.Itoa(resp.StatusCode)}
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

// calloutRequest is a callout's HTTP/1.1 request: the module's pseudo-
// headers give its method, path and Host; its other headers go as they
// are, less the hop-by-hop ones, and the length is the body's.
type calloutRequest struct {
	method, path, authority string
	headers                 [][2]string
	body                    []byte
}

// errBadCalloutHeader: a header name or value that would end the header
// line early (Envoy refuses such headers too).
var errBadCalloutHeader = errors.New("callout header with CR, LF or NUL")

// writeTo writes the request, written straight into the connection's
// buffer rather than through net/http's request writer, which sorts and
// copies the headers of every request.
func (r *calloutRequest) writeTo(w *bufio.Writer) error {
	for _, pair := range r.headers {
		if strings.ContainsAny(pair[0], "\r\n\x00") || strings.ContainsAny(pair[1], "\r\n\x00") {
			return errBadCalloutHeader
		}
	}
	if strings.ContainsAny(r.method, " \r\n\x00") || strings.ContainsAny(r.path, " \r\n\x00") {
		return errBadCalloutHeader
	}
	_, _ = w.WriteString(r.method)
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(r.path)
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = w.WriteString(r.authority)
	_, _ = w.WriteString("\r\n")
	for _, pair := range r.headers {
		if strings.HasPrefix(pair[0], ":") || hopByHop[pair[0]] || pair[0] == "content-length" || pair[0] == "host" {
			continue
		}
		_, _ = w.WriteString(pair[0])
		_, _ = w.WriteString(": ")
		_, _ = w.WriteString(pair[1])
		_, _ = w.WriteString("\r\n")
	}
	if len(r.body) > 0 || r.method != http.MethodGet && r.method != http.MethodHead {
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.WriteString(strconv.Itoa(len(r.body)))
		_, _ = w.WriteString("\r\n")
	}
	_, _ = w.WriteString("\r\n")
	_, _ = w.Write(r.body)
	return w.Flush()
}

// exchange sends req to addr on a pooled connection and reads the whole
// response, at most limit bytes of body, before the deadline. A kept-
// alive connection the server closed while it was idle fails before any
// byte of the response; the request is then sent once more on a new
// connection (the server never saw it).
func (c *cluster) exchange(deadline time.Time, addr string, req *calloutRequest, limit int) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		cc, reused, err := c.takeConn(deadline, addr)
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
			continue
		}
		return nil, nil, err
	}
}

// exchange writes req and reads its response on cc; received says whether
// any byte of the response arrived. After an error cc must be closed.
func (cc *calloutConn) exchange(req *calloutRequest, limit int) (resp *http.Response, data []byte, received bool, err error) {
	if err := req.writeTo(cc.w); err != nil {
		return nil, nil, false, err
	}
	if _, err := cc.r.Peek(1); err != nil {
		return nil, nil, false, err
	}
	// ReadResponse needs the method only: a HEAD response has no body.
	forMethod := &http.Request{Method: req.method}
	for {
		resp, err = http.ReadResponse(cc.r, forMethod)
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
