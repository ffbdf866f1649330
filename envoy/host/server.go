package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// readChunk is how much of a request or response body is read at once
// when no chunk size is set ("as it arrives").
const readChunk = 64 << 10

// hopByHop headers are not forwarded (RFC 9110 §7.6.1; Envoy strips them
// on HTTP/1 connections).
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "te": true, "trailer": true,
}

func (h *hostImpl) handler() http.Handler { return http.HandlerFunc(h.serveHTTP) }

func (h *hostImpl) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	if ci == nil {
		// In-process use (Handler() without a server): spread by request.
		n := h.nextWorker.Add(1) - 1
		ci = &connInfo{worker: int(n % uint32(len(h.workers))), id: h.nextConnID.Add(1)}
	}
	w := h.workers[ci.worker]
	headers := h.requestHeaders(r)
	props := proxywasm.StreamProps{
		RemoteAddr:   r.RemoteAddr,
		LocalAddr:    ci.local,
		ConnectionID: ci.id,
		Protocol:     r.Proto,
		Start:        time.Now(),
	}
	if h.opts.Properties != nil {
		props.Extra = h.opts.Properties(r)
	}
	if reply, ok := h.escapedSlashes(headers); !ok {
		writeLocal(rw, reply)
		return
	}
	d := &downstream{w: rw}
	m := filterchain.New(filterchain.Config{
		Filters:        w.filtersFor(props),
		BufferLimit:    h.cfg.Listener.BufferLimit,
		IdleTimeout:    h.cfg.Listener.StreamIdleTimeout,
		RequestTimeout: h.cfg.Listener.RequestTimeout,
		NewUpstream:    func(m *filterchain.Manager) filterchain.Upstream { return h.newRouter(m) },
		Downstream:     d,
	})
	done := make(chan struct{})
	chunk := h.opts.ChunkSize
	if h.opts.ChunkSizeFor != nil {
		if n := h.opts.ChunkSizeFor(r); n > 0 {
			chunk = n
		}
	}
	go h.readRequest(m, r, headers, chunk, done)
	reqCtx := r.Context().Done()
	stop := make(chan struct{})
	go func() {
		select {
		case <-reqCtx:
			m.RequestReset()
		case <-stop:
		}
	}()
	m.Run(done)
	close(stop)
	close(done)
	if d.reset.Load() {
		panic(http.ErrAbortHandler)
	}
}

// requestHeaders builds Envoy's request header map: pseudo-headers first,
// then the request's headers, with the connection manager's additions
// (x-request-id, x-forwarded-proto) and path normalisation.
func (h *hostImpl) requestHeaders(r *http.Request) *filterchain.HeaderMap {
	p := r.RequestURI
	if p == "" {
		p = r.URL.RequestURI()
	}
	p = h.normalizePath(p)
	hm := filterchain.NewHeaderMap(
		[2]string{":authority", r.Host},
		[2]string{":path", p},
		[2]string{":method", r.Method},
		[2]string{":scheme", "http"},
	)
	for name, values := range r.Header {
		lname := strings.ToLower(name)
		for _, v := range values {
			hm.Add(lname, v)
		}
	}
	if r.ContentLength > 0 || (r.ContentLength == 0 && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Body != http.NoBody) {
		if _, ok := hm.Get("content-length"); !ok && len(r.TransferEncoding) == 0 {
			hm.Add("content-length", strconv.FormatInt(r.ContentLength, 10))
		}
	}
	if len(r.TransferEncoding) > 0 {
		hm.Add("transfer-encoding", strings.Join(r.TransferEncoding, ", "))
	}
	if _, ok := hm.Get("x-forwarded-proto"); !ok {
		hm.Add("x-forwarded-proto", "http")
	}
	if h.cfg.Listener.GenerateRequestID {
		if _, ok := hm.Get("x-request-id"); !ok {
			hm.Add("x-request-id", newUUID())
		}
	}
	return hm
}

// escapedSlashes applies path_with_escaped_slashes_action to a path that
// holds %2F or %5C (Envoy source/common/http/path_utility.cc and
// conn_manager_utility.cc): REJECT_REQUEST answers 400,
// UNESCAPE_AND_REDIRECT answers a 307 to the unescaped path,
// UNESCAPE_AND_FORWARD unescapes it. It runs before the filters.
func (h *hostImpl) escapedSlashes(hm *filterchain.HeaderMap) (filterchain.LocalReply, bool) {
	action := h.cfg.Listener.EscapedSlashes
	p, _ := hm.Get(":path")
	pathOnly, query, _ := strings.Cut(p, "?")
	upper := strings.ToUpper(pathOnly)
	if action == "" || (!strings.Contains(upper, "%2F") && !strings.Contains(upper, "%5C")) {
		return filterchain.LocalReply{}, true
	}
	if action == "REJECT_REQUEST" {
		return filterchain.LocalReply{Status: 400, Body: []byte("Bad Request"), Details: "path_normalization_failed"}, false
	}
	unescaped := pathOnly
	for _, e := range []struct{ from, to string }{{"%2F", "/"}, {"%2f", "/"}, {"%5C", "\\"}, {"%5c", "\\"}} {
		unescaped = strings.ReplaceAll(unescaped, e.from, e.to)
	}
	if query != "" {
		unescaped += "?" + query
	}
	if action == "UNESCAPE_AND_REDIRECT" {
		return filterchain.LocalReply{Status: 307, Headers: [][2]string{{"location", h.normalizePath(unescaped)}}, Details: "path_normalization_failed"}, false
	}
	hm.Set(":path", h.normalizePath(unescaped))
	return filterchain.LocalReply{}, true
}

// writeLocal answers a request before the filter chain runs.
func writeLocal(rw http.ResponseWriter, r filterchain.LocalReply) {
	for _, p := range r.Headers {
		rw.Header().Add(p[0], p[1])
	}
	rw.Header().Set("Server", "envoy")
	if len(r.Body) > 0 {
		rw.Header().Set("Content-Type", "text/plain")
		rw.Header().Set("Content-Length", strconv.Itoa(len(r.Body)))
	}
	rw.WriteHeader(r.Status)
	_, _ = rw.Write(r.Body)
}

// normalizePath applies merge_slashes and normalize_path (RFC 3986 dot
// segment removal) to the path, keeping the query.
func (h *hostImpl) normalizePath(p string) string {
	if !h.cfg.Listener.NormalizePath && !h.cfg.Listener.MergeSlashes {
		return p
	}
	query := ""
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p, query = p[:i], p[i:]
	}
	if h.cfg.Listener.MergeSlashes {
		for strings.Contains(p, "//") {
			p = strings.ReplaceAll(p, "//", "/")
		}
	}
	if h.cfg.Listener.NormalizePath && p != "" {
		trailing := strings.HasSuffix(p, "/") && p != "/"
		p = path.Clean(p)
		if trailing && p != "/" {
			p += "/"
		}
	}
	return p + query
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// readRequest feeds the request to the manager: headers, then the body in
// chunks (of the configured size, else as read), then trailers or an end
// of stream.
func (h *hostImpl) readRequest(m *filterchain.Manager, r *http.Request, headers *filterchain.HeaderMap, chunk int, done <-chan struct{}) {
	noBody := r.Body == nil || r.Body == http.NoBody || (r.ContentLength == 0 && len(r.TransferEncoding) == 0)
	m.RequestHeaders(headers, noBody, done)
	if noBody {
		return
	}
	size := chunk
	if size <= 0 {
		size = readChunk
	}
	var total int64
	for {
		buf := make([]byte, size)
		var n int
		var err error
		if chunk > 0 {
			n, err = io.ReadFull(r.Body, buf)
		} else {
			// As it arrives: whatever one read returns.
			n, err = r.Body.Read(buf)
		}
		if n > 0 {
			total += int64(n)
			last := r.ContentLength >= 0 && total >= r.ContentLength
			m.RequestData(buf[:n], last, done)
			if last {
				return
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if r.ContentLength >= 0 && total < r.ContentLength {
				m.RequestReset()
				return
			}
			break
		}
		if err != nil {
			m.RequestReset()
			return
		}
		select {
		case <-done:
			return
		default:
		}
	}
	if len(r.Trailer) > 0 {
		t := filterchain.NewHeaderMap()
		for name, values := range r.Trailer {
			for _, v := range values {
				t.Add(name, v)
			}
		}
		if t.Len() > 0 {
			m.RequestTrailers(t, done)
			return
		}
	}
	m.RequestData(nil, true, done)
}

// downstream writes the response to the client, flushing every chunk so
// SSE streams pass through without buffering.
type downstream struct {
	w     http.ResponseWriter
	reset atomic.Bool
}

func (d *downstream) WriteHeaders(hm *filterchain.HeaderMap, end bool) error {
	status := 200
	hdr := d.w.Header()
	for _, p := range hm.Pairs() {
		if p[0] == ":status" {
			status, _ = strconv.Atoi(p[1])
			continue
		}
		if strings.HasPrefix(p[0], ":") || hopByHop[p[0]] {
			continue
		}
		hdr.Add(p[0], p[1])
	}
	// The connection manager overwrites server (server_header_transformation
	// OVERWRITE, server_name "envoy").
	hdr.Set("Server", "envoy")
	d.w.WriteHeader(status)
	if f, ok := d.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

func (d *downstream) WriteData(b []byte, end bool) error {
	if len(b) > 0 {
		if _, err := d.w.Write(b); err != nil {
			return fmt.Errorf("host: write response: %w", err)
		}
	}
	if f, ok := d.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

func (d *downstream) WriteTrailers(t *filterchain.HeaderMap) error {
	for _, p := range t.Pairs() {
		d.w.Header().Add(http.TrailerPrefix+p[0], p[1])
	}
	return nil
}

func (d *downstream) Reset() { d.reset.Store(true) }

// cluster is an upstream cluster with its endpoints and connection pool.
type cluster struct {
	cfg       *envoyconfig.Cluster
	next      atomic.Uint32
	transport *http.Transport
}

func newCluster(c *envoyconfig.Cluster) *cluster {
	dialer := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &cluster{cfg: c, transport: &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}}
}

// endpoint picks the next endpoint, round robin.
func (c *cluster) endpoint() string {
	n := c.next.Add(1) - 1
	return c.cfg.Endpoints[int(n)%len(c.cfg.Endpoints)]
}

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

// router is the router filter's upstream side of one stream.
type router struct {
	h      *hostImpl
	m      *filterchain.Manager
	ctx    context.Context
	cancel context.CancelFunc
	body   *bodyPipe
	route  *envoyconfig.Route
	done   chan struct{}

	mu          sync.Mutex
	requestSent bool
	timer       *time.Timer
	finished    atomic.Bool
}

func (h *hostImpl) newRouter(m *filterchain.Manager) *router {
	ctx, cancel := context.WithCancel(context.Background())
	return &router{h: h, m: m, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Headers starts the upstream request.
func (rt *router) Headers(hm *filterchain.HeaderMap, end bool) {
	authority, _ := hm.Get(":authority")
	p, _ := hm.Get(":path")
	method, _ := hm.Get(":method")
	route, ok := rt.h.route(authority, p)
	if !ok {
		// Envoy: no route -> 404, details route_not_found.
		rt.m.UpstreamReply(filterchain.LocalReply{Status: 404, Details: "route_not_found"})
		return
	}
	rt.route = route
	cl := rt.h.clusters[route.Cluster]
	var body io.Reader = http.NoBody
	if !end {
		rt.body = newBodyPipe()
		body = rt.body
	}
	req, err := http.NewRequestWithContext(rt.ctx, method, "http://"+cl.endpoint()+p, body)
	if err != nil {
		rt.m.UpstreamReply(filterchain.LocalReply{Status: 400, Body: []byte("Bad Request"), Details: "invalid_request"})
		return
	}
	req.Host = authority
	for _, pair := range hm.Pairs() {
		if strings.HasPrefix(pair[0], ":") || hopByHop[pair[0]] || pair[0] == "content-length" {
			continue
		}
		req.Header.Add(pair[0], pair[1])
	}
	if cl, ok := hm.Get("content-length"); ok {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			req.ContentLength = n
		}
	} else if !end {
		req.ContentLength = -1
	}
	if end {
		rt.requestComplete()
	}
	go rt.roundTrip(cl, req)
}

func (rt *router) Data(b []byte, end bool) {
	if rt.body == nil {
		return
	}
	rt.body.write(b, end)
	if end {
		rt.requestComplete()
	}
}

// Trailers ends the upstream request; HTTP/1.1 request trailers are not
// forwarded by the local host.
func (rt *router) Trailers(*filterchain.HeaderMap) {
	if rt.body != nil {
		rt.body.write(nil, true)
	}
	rt.requestComplete()
}

func (rt *router) Reset() {
	if rt.finished.Swap(true) {
		return
	}
	rt.cancel()
	if rt.body != nil {
		rt.body.closeWithError(errors.New("stream reset"))
	}
	rt.mu.Lock()
	if rt.timer != nil {
		rt.timer.Stop()
	}
	rt.mu.Unlock()
	close(rt.done)
}

// requestComplete starts the route timeout: Envoy's route timeout runs
// from the end of the downstream request to the end of the response
// (route_components.proto RouteAction.timeout; 0 disables it).
func (rt *router) requestComplete() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.requestSent {
		return
	}
	rt.requestSent = true
	if rt.route == nil || rt.route.Timeout <= 0 {
		return
	}
	rt.timer = time.AfterFunc(rt.route.Timeout, func() {
		if rt.finished.Load() {
			return
		}
		rt.m.UpstreamReply(filterchain.LocalReply{Status: 504, Body: []byte("upstream request timeout"), Details: "upstream_response_timeout"})
		rt.cancel()
	})
}

func (rt *router) roundTrip(cl *cluster, req *http.Request) {
	resp, err := cl.transport.RoundTrip(req)
	if err != nil {
		if rt.ctx.Err() != nil {
			return
		}
		rt.m.UpstreamReply(filterchain.LocalReply{
			Status:  503,
			Body:    []byte("upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: " + err.Error()),
			Details: "upstream_reset_before_response_started{connection_failure}",
		})
		return
	}
	defer resp.Body.Close()
	hm := filterchain.NewHeaderMap([2]string{":status", strconv.Itoa(resp.StatusCode)})
	for name, values := range resp.Header {
		lname := strings.ToLower(name)
		if hopByHop[lname] {
			continue
		}
		for _, v := range values {
			hm.Add(lname, v)
		}
	}
	if _, ok := hm.Get("content-length"); !ok && resp.ContentLength >= 0 {
		hm.Add("content-length", strconv.FormatInt(resp.ContentLength, 10))
	}
	noBody := resp.ContentLength == 0 || req.Method == http.MethodHead
	rt.m.ResponseHeaders(hm, noBody, rt.done)
	if noBody {
		rt.finish()
		return
	}
	buf := make([]byte, readChunk)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			rt.m.ResponseData(append([]byte(nil), buf[:n]...), false, rt.done)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if rt.ctx.Err() == nil {
				rt.m.UpstreamReply(filterchain.LocalReply{Status: 503, Body: []byte("upstream reset"), Details: "upstream_reset_after_response_started"})
			}
			return
		}
		select {
		case <-rt.done:
			return
		default:
		}
	}
	if len(resp.Trailer) > 0 {
		t := filterchain.NewHeaderMap()
		for name, values := range resp.Trailer {
			for _, v := range values {
				t.Add(name, v)
			}
		}
		if t.Len() > 0 {
			rt.m.ResponseTrailers(t, rt.done)
			rt.finish()
			return
		}
	}
	rt.m.ResponseData(nil, true, rt.done)
	rt.finish()
}

func (rt *router) finish() {
	rt.finished.Store(true)
	rt.mu.Lock()
	if rt.timer != nil {
		rt.timer.Stop()
	}
	rt.mu.Unlock()
}

// bodyPipe carries the request body to the upstream request without
// blocking the stream's goroutine.
type bodyPipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	chunks [][]byte
	end    bool
	err    error
}

func newBodyPipe() *bodyPipe {
	p := &bodyPipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *bodyPipe) write(b []byte, end bool) {
	p.mu.Lock()
	if len(b) > 0 {
		p.chunks = append(p.chunks, b)
	}
	if end {
		p.end = true
	}
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *bodyPipe) closeWithError(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *bodyPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.chunks) == 0 && !p.end && p.err == nil {
		p.cond.Wait()
	}
	if p.err != nil {
		return 0, p.err
	}
	if len(p.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.chunks[0])
	if n == len(p.chunks[0]) {
		p.chunks = p.chunks[1:]
	} else {
		p.chunks[0] = p.chunks[0][n:]
	}
	return n, nil
}

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
