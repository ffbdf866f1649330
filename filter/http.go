package filter

import (
	"runtime"
	"strconv"
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// gcAfterBodyBytes: after reading a body larger than this the filter runs
// the garbage collector at once. A Wasm VM's linear memory never shrinks,
// so letting large bodies pile up until the next automatic collection would
// raise every worker's memory for good. Up to 1 MiB (the default
// maxRequestBodyBytes, and Envoy's default buffer limit) a body is read into
// memory the VM reuses (hostcalls_wasip1.go) and leaves no garbage; a
// plugin that admits larger bodies gets memory of its own for each, and
// collects after each (see docs/benchmarks.md, "GC trade-off").
const gcAfterBodyBytes = 1 << 20

// phase is where an HTTP stream stands in the filter.
type phase uint8

const (
	// phasePassThrough: not inspected (not a POST under the configured
	// paths, or nothing to limit): every callback continues.
	phasePassThrough phase = iota
	// phaseBuffering: the request is held (headers and body) until the
	// end of the stream.
	phaseBuffering
	// phaseDeciding: the limiter has not answered yet; the request stays
	// held until it does.
	phaseDeciding
	// phaseAdmitted: the request went on to the upstream.
	phaseAdmitted
	// phaseReplied: the filter answered with a local reply.
	phaseReplied
)

// httpContext is the filter on one HTTP stream. It is small, and a
// finished stream's is reused by the next (keepContext): a stream the
// filter lets pass (the SSE GET, a request outside the paths) mostly
// allocates nothing; what an inspected request needs is in inspection.
type httpContext struct {
	types.DefaultHttpContext
	settings  *settings
	contextID uint32

	phase phase
	// inTake is true while the limiter's Take runs, so the decision
	// callback knows whether it answers synchronously.
	inTake bool
	// streamDone is set when the host has finished the stream; a late
	// decision then touches nothing.
	streamDone bool
	// leased is set once the stream holds a concurrency lease (hold).
	leased bool
	// bodySize is the size of the buffered request body the host last
	// reported.
	bodySize int
	// inspected is what the filter keeps of an inspected request, set
	// when the request is held (phaseBuffering), nil before and for a
	// request that passes at its headers.
	inspected *inspection
}

// inspection is what the filter keeps of one inspected request.
type inspection struct {
	// identity is the request's user ("" when it has none) and mirrored
	// its Mcp-Method / Mcp-Name headers, read at the request headers.
	identity string
	mirrored mirroredHeaders
	// pending is the request being decided while phase is phaseDeciding
	// (request, or nil).
	pending *examined
	request examined
	// responseHeaders are added to the upstream's response headers: the
	// RateLimit fields of an admitted tools/call.
	responseHeaders [][2]string
	// buffers back the slices of request and its demands.
	buffers examineBuffers
}

// newInspection returns a cleared inspection: the one kept by
// keepInspection, else a new one. An inspection is over 512 bytes, an
// allocation that costs a few microseconds in a Wasm VM (its memory is
// cleared and its span refilled often), and streams mostly follow one
// another.
func (s *settings) newInspection() *inspection {
	in := s.spareInspection
	if in == nil {
		return new(inspection)
	}
	s.spareInspection = nil
	return in
}

// keepInspection clears the inspection of a finished stream, to which
// nothing refers any more, and keeps it for newInspection. Its buffers
// are memory lent to the next request's reading and demands, which write
// before they read (examine, addBucketDemand), so they are not cleared:
// in a Wasm VM under wazero clearing its 700 bytes is a loop of host
// memory copies (docs/benchmarks.md). The rest is cleared field by
// field, for the same reason (TestKeepInspectionClears holds it to
// every field).
func (s *settings) keepInspection(in *inspection) {
	in.identity, in.pending, in.responseHeaders = "", nil, nil
	in.mirrored.clear()
	in.request.clear()
	s.spareInspection = in
}

// OnHttpRequestHeaders implements types.HttpContext. Only POST requests
// under the configured paths are inspected; everything else continues here
// and is never buffered. An inspected request is held (ActionPause) so that
// nothing reaches the upstream before the decision.
func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	// A request with a body needs its header map if it is a POST, so its
	// :method is read from the map: one host call instead of two. One
	// without (a GET opening the SSE stream, mostly) needs only :method,
	// which costs less than the map.
	headers := &h.settings.headers
	var method string
	var found bool
	if endOfStream {
		value, status := requestHeader(":method")
		method, found = value, status == statusOK
	} else {
		fetchRequestHeaders(headers)
		method, found = headers.value(knownMethod)
	}
	// Methods are case-sensitive (RFC 9110 section 9.1), but some servers
	// upper-case them; inspecting "post" too costs nothing.
	if !found || !equalFoldASCII(method, "post") {
		return types.ActionContinue
	}
	if endOfStream {
		fetchRequestHeaders(headers)
	}
	target, _ := headers.value(knownPath)
	if !h.settings.paths.matches(target) {
		return types.ActionContinue
	}
	if problem := requestBodyEncoding(headers); problem != encodingOK {
		return h.replyUnsupportedEncoding(problem)
	}
	h.phase = phaseBuffering
	h.inspected = h.settings.newInspection()
	if source := h.settings.cfg.UserIdentity; source != nil {
		h.inspected.identity = requestIdentity(source, headers)
	}
	readMirroredHeaders(headers, &h.inspected.mirrored)
	if declared, ok := headers.value(knownContentLength); ok {
		size, err := strconv.ParseUint(strings.TrimSpace(declared), 10, 64)
		if err == nil && size > uint64(h.settings.cfg.MaxRequestBodyBytes) {
			return h.replyTooLarge()
		}
	}
	if endOfStream {
		// A POST without a body: decide on the empty body (a parse
		// error, answered 400).
		return h.decide(nil)
	}
	return types.ActionPause
}

// OnHttpRequestBody implements types.HttpContext: it buffers the body
// until the end of the stream, however the host splits it into chunks.
func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	switch h.phase {
	case phaseBuffering:
	case phaseDeciding, phaseReplied:
		return types.ActionPause
	default:
		return types.ActionContinue
	}
	h.bodySize = bodySize
	if bodySize > h.settings.cfg.MaxRequestBodyBytes {
		return h.replyTooLarge()
	}
	if !endOfStream {
		return types.ActionPause
	}
	return h.decideOnBufferedBody()
}

// OnHttpRequestTrailers implements types.HttpContext. A request with
// trailers ends with them rather than with a body chunk: the decision is
// taken here then.
func (h *httpContext) OnHttpRequestTrailers(int) types.Action {
	switch h.phase {
	case phaseBuffering:
		return h.decideOnBufferedBody()
	case phaseDeciding, phaseReplied:
		return types.ActionPause
	}
	return types.ActionContinue
}

// OnHttpResponseHeaders implements types.HttpContext: it adds the
// RateLimit fields to the response of an admitted tools/call.
func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if h.phase != phaseAdmitted || h.inspected == nil || len(h.inspected.responseHeaders) == 0 {
		return types.ActionContinue
	}
	for i := range h.inspected.responseHeaders { // by index, as in get
		header := &h.inspected.responseHeaders[i]
		if err := proxywasm.AddHttpResponseHeader(header[0], header[1]); err != nil {
			proxywasm.LogWarnf("mcp-ratelimit: add response header %s: %v", header[0], err)
		}
	}
	h.inspected.responseHeaders = nil
	return types.ActionContinue
}

// OnHttpStreamDone implements types.HttpContext.
func (h *httpContext) OnHttpStreamDone() {
	h.endStream()
	h.streamDone = true
	// A request still being decided keeps its inspection: a late decision
	// gives back the lease it took (Decided). Any other's memory is
	// free for the next request.
	if h.phase == phaseDeciding {
		return
	}
	if h.inspected != nil {
		h.settings.keepInspection(h.inspected)
		h.inspected = nil
	}
	h.settings.keepContext(h)
}

// keepContext clears the context of a finished stream that no decision
// will reach any more and keeps it for the next stream (NewHttpContext):
// in a Wasm VM an allocation costs as much as a few dozen calls, and
// every stream, a GET included, allocates its context. The SDK calls
// nothing on a context after OnHttpStreamDone (proxy_on_log): proxy_on_delete
// only drops it from the SDK's map, so the new stream may have it first.
// Envoy calls proxy_on_log once, when the request is complete (a
// mid-request access log skips it: source/extensions/common/wasm/context.cc,
// Context::log); were the context deleted first, the SDK would not call
// OnHttpStreamDone and nothing would be reused.
func (s *settings) keepContext(h *httpContext) {
	*h = httpContext{settings: s}
	s.spareContext = h
}

// decideOnBufferedBody reads the whole buffered body once (at most one
// byte more than the limit), examines it and acts. Nothing refers to the
// body once it is examined (its memory is reused for the next body): by
// the time the limiter is asked, one larger than gcAfterBodyBytes is
// collected at once. One function, not a reader and a decider: in a Wasm
// VM the two cost 2% more of an inspected request (docs/benchmarks.md).
func (h *httpContext) decideOnBufferedBody() types.Action {
	var body []byte
	if h.bodySize > 0 {
		var status hostStatus
		body, status = requestBody(h.bodySize, h.settings.cfg.MaxRequestBodyBytes+1)
		switch status {
		case statusOK:
		case statusNotFound:
			body = nil
		default:
			proxywasm.LogErrorf("mcp-ratelimit: read request body: %v", status.err())
			// The body cannot be inspected, so it must not pass.
			return h.sendJSONError(500, nil, codeInternalError, "Internal error")
		}
	}
	size := len(body)
	if size > h.settings.cfg.MaxRequestBodyBytes {
		return h.replyTooLarge()
	}
	h.examine(body)
	if size > gcAfterBodyBytes {
		runtime.GC()
	}
	return h.act(&h.inspected.request)
}

// examine examines body with the request's mirrored headers, in the
// inspection's buffers, into the inspection's request: the stream keeps
// it, which the decision may outlive the callback, and in a Wasm VM
// handing a struct of its size on by value is a call each time.
func (h *httpContext) examine(body []byte) {
	in := h.inspected
	h.settings.examine(body, &in.mirrored, &in.buffers, &in.request)
}

// decide examines a body that is already at hand (the empty body of a POST
// that ended at its headers) and acts on it.
func (h *httpContext) decide(body []byte) types.Action {
	h.examine(body)
	return h.act(&h.inspected.request)
}

// requestHeaders are the request's headers, fetched from the host in one
// call: an inspected request needs several of them, and in a Wasm VM each
// host call costs more than looking through a few pairs. The ones every
// inspected request needs (knownHeaders) are found in one pass, as each
// look-up would be a Go call.
type requestHeaders struct {
	pairs [][2]string
	err   error // the map could not be fetched
	// values holds the first value of each of knownHeaders; bit i of found
	// says whether knownHeaders[i] is present, bit i of repeated whether
	// it is present more than once.
	values          [len(knownHeaders)]string
	found, repeated uint8
}

// knownHeaders are the headers requestHeaders.value returns, by index.
// Their names have different lengths, so that one pass over the map
// compares each header with one of them at most (knownByLength).
var knownHeaders = [...]string{":method", ":path", "content-length", headerMcpMethod, headerMcpName,
	headerContentType, headerContentEncoding, headerTransferEncoding}

// Indexes of knownHeaders.
const (
	knownMethod = iota
	knownPath
	knownContentLength
	knownMcpMethod
	knownMcpName
	knownContentType
	knownContentEncoding
	knownTransferEncoding
)

// knownByLength maps the length of a header name to 1 + the index of the
// known header of that length, 0 for none; its size is one more than the
// longest known name, Transfer-Encoding.
var knownByLength = func() (t [len(headerTransferEncoding) + 1]uint8) {
	for i, name := range knownHeaders {
		if len(name) >= len(t) || t[len(name)] != 0 {
			panic("filter: known header " + name + ": knownByLength has no room of length " + strconv.Itoa(len(name)))
		}
		t[len(name)] = uint8(i + 1)
	}
	return t
}()

// fetchRequestHeaders fetches the request's header map into r, forgetting
// the previous request's, and finds knownHeaders in it; when the host
// cannot hand the map over, it asks the host for each of them up to the
// body-encoding headers (which requestBodyEncoding then refuses unread).
// r is the plugin's (settings.headers): in a Wasm VM copying a result of
// this size is a call, and clearing a variable of it a loop of memory
// copies. Only the fields that say what r holds are reset: values are
// read only where found says they were set.
func fetchRequestHeaders(r *requestHeaders) {
	r.found, r.repeated = 0, 0
	r.pairs, r.err = requestHeaderPairs()
	if r.err != nil {
		for i, name := range knownHeaders[:knownContentType] {
			if value, ok := r.get(name); ok {
				r.values[i], r.found = value, r.found|1<<i
			}
		}
		return
	}
	r.findKnown()
}

// findKnown finds knownHeaders in r.pairs: the first value of each, and
// which are present and repeated. Each header is compared with the one
// known name of its length, if any: in a Wasm VM every comparison that
// fails is a jump, and a jump costs as much as a few instructions.
func (r *requestHeaders) findKnown() {
	// By index: ranging over a pair by value copies it, a call in a Wasm VM.
	for p := range r.pairs {
		pair := &r.pairs[p]
		if len(pair[0]) >= len(knownByLength) {
			continue
		}
		k := int(knownByLength[len(pair[0])]) - 1
		if k < 0 || !equalFoldASCII(pair[0], knownHeaders[k]) {
			continue
		}
		if bit := uint8(1) << k; r.found&bit == 0 {
			r.values[k], r.found = pair[1], r.found|bit
		} else {
			r.repeated |= bit
		}
	}
}

// value returns the first value of knownHeaders[i], and whether the
// request has that header ("" when it has not).
func (r *requestHeaders) value(i int) (string, bool) {
	if r.found&(1<<i) == 0 {
		return "", false
	}
	return r.values[i], true
}

// get returns the value of the first header called name (in lower case),
// as the host's own look-up does (names compared without case); when the
// map could not be fetched, it asks the host for that header.
func (r *requestHeaders) get(name string) (string, bool) {
	if r.err != nil {
		value, err := proxywasm.GetHttpRequestHeader(name)
		return value, err == nil
	}
	for i := range r.pairs { // by index: a pair by value is a copy, a call in the VM
		if equalFoldASCII(r.pairs[i][0], name) {
			return r.pairs[i][1], true
		}
	}
	return "", false
}

// equalFoldASCII reports whether s is lower, a lower-case ASCII name,
// ignoring ASCII case: strings.EqualFold of two strings of one length
// (a non-ASCII letter that folds to an ASCII one is longer in UTF-8), in
// a loop the compiler inlines. In a Wasm VM each Go call costs more than
// comparing a header name, and a request's headers are compared a few
// dozen times.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// requestBodyEncoding checks the request's Content-Type, Content-Encoding
// and Transfer-Encoding headers, every entry of each (see
// checkBodyEncoding). A header map the host cannot hand over is treated as
// a problem: the body would be read blind.
func requestBodyEncoding(headers *requestHeaders) bodyEncodingProblem {
	if headers.err != nil {
		proxywasm.LogErrorf("mcp-ratelimit: read request headers: %v", headers.err)
		return encodingMediaType
	}
	// What MCP clients send, one Content-Type of exactly
	// "application/json" and neither coding header, is accepted without
	// going through the map again: checkBodyEncoding accepts it too
	// (TestRequestBodyEncodingAgrees).
	const codings = 1<<knownContentEncoding | 1<<knownTransferEncoding
	if headers.found&(codings|1<<knownContentType) == 1<<knownContentType && headers.repeated&(1<<knownContentType) == 0 &&
		headers.values[knownContentType] == mediaTypeJSON {
		return encodingOK
	}
	return checkBodyEncoding(headers.pairs)
}

// readMirroredHeaders captures the Mcp-Method and Mcp-Name headers in m,
// which must be zero (a new inspection's).
func readMirroredHeaders(headers *requestHeaders, m *mirroredHeaders) {
	if value, ok := headers.value(knownMcpMethod); ok {
		m.method, m.hasMethod = strings.Clone(value), true
	}
	if value, ok := headers.value(knownMcpName); ok {
		m.name, m.hasName = strings.Clone(value), true
	}
}
