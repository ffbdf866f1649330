package host

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
)

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
	// The upstream answered in full before the request body ended (a 404
	// or 413 sent without reading it): the rest of the body is never
	// delivered once the stream completes, so the upstream request stops
	// here, as Envoy resets the upstream request in that case. Without
	// this, the transport's body writer would wait on the pipe forever.
	if rt.body != nil {
		rt.body.abandon(errors.New("response complete before the request body"))
	}
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

// abandon fails the reader's next Read with err unless the whole body is
// already in the pipe.
func (p *bodyPipe) abandon(err error) {
	p.mu.Lock()
	if !p.end && p.err == nil {
		p.err = err
	}
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
