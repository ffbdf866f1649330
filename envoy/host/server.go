package host

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
