package filterchain

import (
	"strconv"
	"sync"
	"time"
)

// Downstream receives the response (the client side of the stream).
type Downstream interface {
	WriteHeaders(h *HeaderMap, endStream bool) error
	WriteData(b []byte, endStream bool) error
	WriteTrailers(t *HeaderMap) error
	// Reset aborts the response (the connection is closed).
	Reset()
}

// Upstream is the router's side of one stream: it receives the request as
// it leaves the last filter and reports the response with the Manager's
// Response* methods.
type Upstream interface {
	Headers(h *HeaderMap, endStream bool)
	Data(b []byte, endStream bool)
	Trailers(t *HeaderMap)
	// Reset cancels the upstream request.
	Reset()
}

// Config describes one stream.
type Config struct {
	// Filters run in order for the request and in reverse order for the
	// response.
	Filters []Filter
	// BufferLimit is the most a filter may buffer (Envoy's per-stream
	// buffer limit, from per_connection_buffer_limit_bytes; default 1 MiB).
	BufferLimit int
	// IdleTimeout ends a stream that sees no activity (0: none).
	IdleTimeout time.Duration
	// RequestTimeout bounds the reception of the whole request (0: none).
	RequestTimeout time.Duration
	// NewUpstream creates the router side when the request headers leave
	// the last filter.
	NewUpstream func(m *Manager) Upstream
	// Downstream receives the response.
	Downstream Downstream
}

// Details values of the host's own local replies (Envoy
// StreamInfo::ResponseCodeDetails).
const (
	DetailsRequestPayloadTooLarge  = "request_payload_too_large"
	DetailsResponsePayloadTooLarge = "response_payload_too_large"
	DetailsStreamIdleTimeout       = "stream_idle_timeout"
	DetailsRequestOverallTimeout   = "request_overall_timeout"
)

type eventKind int

const (
	evReqHeaders eventKind = iota
	evReqData
	evReqTrailers
	evReqReset
	evRespHeaders
	evRespData
	evRespTrailers
	evUpstreamReply
	evContinueDecoding
	evContinueEncoding
	evLocalReply
	evReset
)

type event struct {
	kind    eventKind
	filter  int
	headers *HeaderMap
	data    []byte
	end     bool
	reply   LocalReply
	ack     chan struct{}
}

type filterState struct {
	stopped        bool
	stopAll        bool
	headersPending *HeaderMap
	headersEnd     bool
	buffered       *Buffer
	endSeen        bool
	trailers       *HeaderMap
	noBuffer       bool
}

// Manager runs one stream through the chain. Create it with New, feed the
// request with Request*, and call Run.
type Manager struct {
	cfg Config

	mu    sync.Mutex
	queue []event
	wake  chan struct{}

	// Loop-owned state.
	dec, enc        []filterState
	upstream        Upstream
	reqHeaders      *HeaderMap
	respHeaders     *HeaderMap
	respTrailers    *HeaderMap
	responseStarted bool // headers sent downstream
	responseDone    bool
	requestDone     bool
	aborted         bool
	localReplied    bool
	info            StreamInfo
	inFilter        int // index of the filter being called, -1 outside
}

// New prepares a stream.
func New(cfg Config) *Manager {
	if cfg.BufferLimit <= 0 {
		cfg.BufferLimit = 1 << 20
	}
	m := &Manager{cfg: cfg, wake: make(chan struct{}, 1), inFilter: -1}
	m.dec = make([]filterState, len(cfg.Filters))
	m.enc = make([]filterState, len(cfg.Filters))
	for i, f := range cfg.Filters {
		cb := &callbacks{m: m, index: i}
		f.SetCallbacks(cb, (*encCallbacks)(cb))
	}
	return m
}

func (m *Manager) post(ev event) {
	m.mu.Lock()
	m.queue = append(m.queue, ev)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// postWait posts an event and waits until the loop handled it (or the
// stream ended), which bounds what a reader has in flight to one chunk. A
// nil done posts without waiting (for callers on the stream's own
// goroutine, or that bound their data themselves).
func (m *Manager) postWait(ev event, done <-chan struct{}) {
	if done == nil {
		m.post(ev)
		return
	}
	ev.ack = make(chan struct{})
	m.post(ev)
	select {
	case <-ev.ack:
	case <-done:
	}
}

// RequestHeaders delivers the request headers (call once, first).
func (m *Manager) RequestHeaders(h *HeaderMap, endStream bool, done <-chan struct{}) {
	m.postWait(event{kind: evReqHeaders, headers: h, end: endStream}, done)
}

// RequestData delivers a request body chunk.
func (m *Manager) RequestData(b []byte, endStream bool, done <-chan struct{}) {
	m.postWait(event{kind: evReqData, data: b, end: endStream}, done)
}

// RequestTrailers delivers the request trailers (ends the request).
func (m *Manager) RequestTrailers(t *HeaderMap, done <-chan struct{}) {
	m.postWait(event{kind: evReqTrailers, headers: t}, done)
}

// RequestReset reports that the client went away.
func (m *Manager) RequestReset() { m.post(event{kind: evReqReset}) }

// ResponseHeaders delivers the upstream response headers.
func (m *Manager) ResponseHeaders(h *HeaderMap, endStream bool, done <-chan struct{}) {
	m.postWait(event{kind: evRespHeaders, headers: h, end: endStream}, done)
}

// ResponseData delivers an upstream response body chunk.
func (m *Manager) ResponseData(b []byte, endStream bool, done <-chan struct{}) {
	m.postWait(event{kind: evRespData, data: b, end: endStream}, done)
}

// ResponseTrailers delivers the upstream response trailers.
func (m *Manager) ResponseTrailers(t *HeaderMap, done <-chan struct{}) {
	m.postWait(event{kind: evRespTrailers, headers: t}, done)
}

// UpstreamReply answers the stream with a local reply of the router (no
// route, connection failure, timeout).
func (m *Manager) UpstreamReply(r LocalReply) { m.post(event{kind: evUpstreamReply, reply: r}) }

// Run processes the stream until it is complete and returns what
// happened. It calls every filter's Log and OnDestroy at the end.
func (m *Manager) Run(done <-chan struct{}) *StreamInfo {
	var idle, overall *time.Timer
	var idleC, overallC <-chan time.Time
	if m.cfg.IdleTimeout > 0 {
		idle = time.NewTimer(m.cfg.IdleTimeout)
		idleC = idle.C
		defer idle.Stop()
	}
	if m.cfg.RequestTimeout > 0 {
		overall = time.NewTimer(m.cfg.RequestTimeout)
		overallC = overall.C
		defer overall.Stop()
	}
	for !m.finished() {
		m.mu.Lock()
		batch := m.queue
		m.queue = nil
		m.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-m.wake:
				continue
			case <-done:
				m.abort()
				continue
			case <-idleC:
				m.timeout(408, "stream timeout", DetailsStreamIdleTimeout)
				continue
			case <-overallC:
				if !m.requestDone {
					m.timeout(408, "request timeout", DetailsRequestOverallTimeout)
				}
				continue
			}
		}
		if idle != nil {
			idle.Reset(m.cfg.IdleTimeout)
		}
		for _, ev := range batch {
			m.handle(ev)
			if ev.ack != nil {
				close(ev.ack)
			}
		}
	}
	// Drain acks of events that will never be processed.
	m.mu.Lock()
	rest := m.queue
	m.queue = nil
	m.mu.Unlock()
	for _, ev := range rest {
		if ev.ack != nil {
			close(ev.ack)
		}
	}
	if m.upstream != nil && !m.responseDone {
		m.upstream.Reset()
	}
	m.info.RequestHeaders = m.reqHeaders
	m.info.ResponseHeaders = m.respHeaders
	m.info.ResponseTrailers = m.respTrailers
	for _, f := range m.cfg.Filters {
		f.Log(&m.info)
	}
	for _, f := range m.cfg.Filters {
		f.OnDestroy()
	}
	return &m.info
}

func (m *Manager) finished() bool {
	return m.aborted || (m.responseDone && (m.requestDone || m.localReplied))
}

func (m *Manager) abort() {
	if m.aborted {
		return
	}
	m.aborted = true
	if m.upstream != nil {
		m.upstream.Reset()
	}
	if !m.responseDone {
		m.cfg.Downstream.Reset()
	}
}

func (m *Manager) timeout(status int, body, details string) {
	if m.responseStarted {
		m.abort()
		return
	}
	m.sendLocalReply(LocalReply{Status: status, Body: []byte(body), Details: details}, len(m.cfg.Filters))
}

func (m *Manager) handle(ev event) {
	if m.aborted || m.responseDone && ev.kind != evReqData && ev.kind != evReqTrailers && ev.kind != evReqReset {
		if ev.kind == evReqData && ev.end || ev.kind == evReqTrailers {
			m.requestDone = true
		}
		return
	}
	switch ev.kind {
	case evReqHeaders:
		m.reqHeaders = ev.headers
		if ev.end {
			m.requestDone = true
		}
		m.decodeHeaders(0, ev.headers, ev.end)
	case evReqData:
		m.info.BytesReceived += len(ev.data)
		if ev.end {
			m.requestDone = true
		}
		if m.localReplied || m.responseDone {
			return
		}
		m.decodeData(0, NewBuffer(ev.data), ev.end)
	case evReqTrailers:
		m.requestDone = true
		if m.localReplied || m.responseDone {
			return
		}
		m.decodeTrailers(0, ev.headers)
	case evReqReset:
		m.abort()
	case evRespHeaders:
		if m.localReplied {
			return
		}
		m.encodeHeaders(len(m.cfg.Filters)-1, ev.headers, ev.end)
	case evRespData:
		if m.localReplied {
			return
		}
		m.encodeData(len(m.cfg.Filters)-1, NewBuffer(ev.data), ev.end)
	case evRespTrailers:
		if m.localReplied {
			return
		}
		m.encodeTrailers(len(m.cfg.Filters)-1, ev.headers)
	case evUpstreamReply:
		if m.localReplied || m.responseStarted {
			if m.responseStarted && !m.responseDone {
				m.abort()
			}
			return
		}
		m.sendLocalReply(ev.reply, len(m.cfg.Filters))
	case evContinueDecoding:
		m.continueDecoding(ev.filter)
	case evContinueEncoding:
		m.continueEncoding(ev.filter)
	case evLocalReply:
		m.sendLocalReply(ev.reply, ev.filter)
	case evReset:
		m.abort()
	}
}

// stopped reports whether the stream no longer iterates (local reply or
// reset) after a filter call.
func (m *Manager) stoppedByFilter() bool {
	m.applyImmediate()
	return m.aborted || m.localReplied
}

// applyImmediate applies the local replies and resets a filter asked for
// during its call (Envoy runs them in the after-VM-call actions, before
// the filter's status is looked at).
func (m *Manager) applyImmediate() {
	m.mu.Lock()
	var keep, now []event
	for _, ev := range m.queue {
		if ev.kind == evLocalReply || ev.kind == evReset {
			now = append(now, ev)
		} else {
			keep = append(keep, ev)
		}
	}
	m.queue = keep
	m.mu.Unlock()
	for _, ev := range now {
		m.handle(ev)
	}
}

func (m *Manager) callFilter(i int, fn func()) {
	m.inFilter = i
	fn()
	m.inFilter = -1
}

func (m *Manager) decodeHeaders(from int, h *HeaderMap, end bool) {
	for j := from; j < len(m.cfg.Filters); j++ {
		var st HeadersStatus
		m.callFilter(j, func() { st = m.cfg.Filters[j].DecodeHeaders(h, end) })
		if m.stoppedByFilter() {
			return
		}
		switch st {
		case HeadersContinue:
		case HeadersContinueAndEndStream:
			end = true
		case HeadersStopAllIterationAndBuffer, HeadersStopAllIterationAndWatermark:
			m.dec[j] = filterState{stopped: true, stopAll: true, headersPending: h, headersEnd: end, endSeen: end}
			return
		default:
			m.dec[j] = filterState{stopped: true, headersPending: h, headersEnd: end, endSeen: end}
			return
		}
	}
	m.upstream = m.cfg.NewUpstream(m)
	m.upstream.Headers(h, end)
}

// bufferAt moves data into filter j's buffer; false when the stream's
// buffer limit was exceeded and a 413 was sent (Envoy
// ActiveStreamDecoderFilter::requestDataTooLarge).
func (m *Manager) bufferAt(j int, data *Buffer) bool {
	fs := &m.dec[j]
	if fs.buffered == nil {
		fs.buffered = &Buffer{}
	}
	fs.buffered.Move(data)
	if fs.buffered.Len() > m.cfg.BufferLimit {
		m.replyOrPost(LocalReply{Status: 413, Body: []byte("Payload Too Large"), Details: DetailsRequestPayloadTooLarge})
		return false
	}
	return true
}

// replyOrPost sends a local reply of the manager: at once outside filter
// calls, after the call returns when a filter is running (the filter holds
// its VM, which the reply's encode pass needs).
func (m *Manager) replyOrPost(r LocalReply) {
	if m.inFilter >= 0 {
		m.post(event{kind: evLocalReply, filter: -1, reply: r})
		return
	}
	m.sendLocalReply(r, -1)
}

func (m *Manager) decodeData(from int, data *Buffer, end bool) {
	for j := from; j < len(m.cfg.Filters); j++ {
		fs := &m.dec[j]
		if fs.stopped && fs.stopAll {
			if end {
				fs.endSeen = true
			}
			m.bufferAt(j, data)
			return
		}
		var st DataStatus
		m.callFilter(j, func() { st = m.cfg.Filters[j].DecodeData(data, end) })
		if m.stoppedByFilter() {
			return
		}
		if end {
			fs.endSeen = true
		}
		switch st {
		case DataContinue:
			if fs.stopped {
				if !m.bufferAt(j, data) {
					return
				}
				m.continueDecoding(j)
				return
			}
		case DataStopIterationNoBuffer:
			fs.stopped = true
			fs.noBuffer = true
			return
		default:
			fs.stopped = true
			m.bufferAt(j, data)
			return
		}
	}
	if m.upstream != nil {
		m.upstream.Data(data.Bytes(), end)
	}
}

func (m *Manager) decodeTrailers(from int, t *HeaderMap) {
	for j := from; j < len(m.cfg.Filters); j++ {
		fs := &m.dec[j]
		fs.endSeen = true
		if fs.stopped && fs.stopAll {
			fs.trailers = t
			return
		}
		var st TrailersStatus
		m.callFilter(j, func() { st = m.cfg.Filters[j].DecodeTrailers(t) })
		if m.stoppedByFilter() {
			return
		}
		if st != TrailersContinue {
			fs.stopped = true
			fs.trailers = t
			return
		}
		if fs.stopped {
			fs.trailers = t
			m.continueDecoding(j)
			return
		}
	}
	if m.upstream != nil {
		m.upstream.Trailers(t)
	}
}

// continueDecoding resumes the request at filter j: pending headers, then
// the buffered body, then trailers go on to the next filters (Envoy
// ActiveStreamFilterBase::commonContinue).
func (m *Manager) continueDecoding(j int) {
	if j < 0 || j >= len(m.dec) || m.localReplied || m.aborted {
		return
	}
	fs := m.dec[j]
	if !fs.stopped {
		return
	}
	m.dec[j] = filterState{}
	hasBody := fs.buffered.Len() > 0
	trailers := fs.trailers
	if fs.headersPending != nil {
		endWithHeaders := fs.headersEnd || (fs.endSeen && !hasBody && trailers == nil)
		m.decodeHeaders(j+1, fs.headersPending, endWithHeaders)
		if m.localReplied || m.aborted || endWithHeaders {
			return
		}
	}
	if hasBody || (fs.endSeen && trailers == nil && !fs.headersEnd) {
		data := fs.buffered
		if data == nil {
			data = &Buffer{}
		}
		m.decodeData(j+1, data, fs.endSeen && trailers == nil)
		if m.localReplied || m.aborted {
			return
		}
	}
	if trailers != nil {
		m.decodeTrailers(j+1, trailers)
	}
}

func (m *Manager) encodeHeaders(from int, h *HeaderMap, end bool) {
	for j := from; j >= 0; j-- {
		var st HeadersStatus
		m.callFilter(j, func() { st = m.cfg.Filters[j].EncodeHeaders(h, end) })
		if m.stoppedByFilter() {
			return
		}
		switch st {
		case HeadersContinue:
		case HeadersContinueAndEndStream:
			end = true
		case HeadersStopAllIterationAndBuffer, HeadersStopAllIterationAndWatermark:
			m.enc[j] = filterState{stopped: true, stopAll: true, headersPending: h, headersEnd: end, endSeen: end}
			return
		default:
			m.enc[j] = filterState{stopped: true, headersPending: h, headersEnd: end, endSeen: end}
			return
		}
	}
	m.writeHeaders(h, end)
}

func (m *Manager) encBufferAt(j int, data *Buffer) bool {
	fs := &m.enc[j]
	if fs.buffered == nil {
		fs.buffered = &Buffer{}
	}
	fs.buffered.Move(data)
	if fs.buffered.Len() > m.cfg.BufferLimit {
		// Envoy ActiveStreamEncoderFilter::responseDataTooLarge: 500 when
		// the headers have not gone out yet, else a reset.
		if m.responseStarted {
			if m.inFilter >= 0 {
				m.post(event{kind: evReset, filter: -1})
			} else {
				m.abort()
			}
		} else {
			m.replyOrPost(LocalReply{Status: 500, Body: []byte("Internal Server Error"), Details: DetailsResponsePayloadTooLarge})
		}
		return false
	}
	return true
}

func (m *Manager) encodeData(from int, data *Buffer, end bool) {
	for j := from; j >= 0; j-- {
		fs := &m.enc[j]
		if fs.stopped && fs.stopAll {
			if end {
				fs.endSeen = true
			}
			m.encBufferAt(j, data)
			return
		}
		var st DataStatus
		m.callFilter(j, func() { st = m.cfg.Filters[j].EncodeData(data, end) })
		if m.stoppedByFilter() {
			return
		}
		if end {
			fs.endSeen = true
		}
		switch st {
		case DataContinue:
			if fs.stopped {
				if !m.encBufferAt(j, data) {
					return
				}
				m.continueEncoding(j)
				return
			}
		case DataStopIterationNoBuffer:
			fs.stopped = true
			return
		default:
			fs.stopped = true
			m.encBufferAt(j, data)
			return
		}
	}
	m.writeData(data.Bytes(), end)
}

func (m *Manager) encodeTrailers(from int, t *HeaderMap) {
	for j := from; j >= 0; j-- {
		fs := &m.enc[j]
		fs.endSeen = true
		if fs.stopped && fs.stopAll {
			fs.trailers = t
			return
		}
		var st TrailersStatus
		m.callFilter(j, func() { st = m.cfg.Filters[j].EncodeTrailers(t) })
		if m.stoppedByFilter() {
			return
		}
		if st != TrailersContinue {
			fs.stopped = true
			fs.trailers = t
			return
		}
		if fs.stopped {
			fs.trailers = t
			m.continueEncoding(j)
			return
		}
	}
	m.writeTrailers(t)
}

func (m *Manager) continueEncoding(j int) {
	if j < 0 || j >= len(m.enc) || m.aborted || m.responseDone {
		return
	}
	fs := m.enc[j]
	if !fs.stopped {
		return
	}
	m.enc[j] = filterState{}
	hasBody := fs.buffered.Len() > 0
	trailers := fs.trailers
	if fs.headersPending != nil {
		endWithHeaders := fs.headersEnd || (fs.endSeen && !hasBody && trailers == nil)
		m.encodeHeaders(j-1, fs.headersPending, endWithHeaders)
		if m.aborted || m.responseDone || endWithHeaders {
			return
		}
	}
	if hasBody || (fs.endSeen && trailers == nil && !fs.headersEnd) {
		data := fs.buffered
		if data == nil {
			data = &Buffer{}
		}
		m.encodeData(j-1, data, fs.endSeen && trailers == nil)
		if m.aborted || m.responseDone {
			return
		}
	}
	if trailers != nil {
		m.encodeTrailers(j-1, trailers)
	}
}

// sendLocalReply answers the stream itself. The reply goes through the
// encoder filters below the one that sent it, as Envoy's
// sendLocalReplyViaFilterChain does; headers are :status, the reply's own
// headers, content-length and, for a non-empty body without one,
// content-type text/plain (Envoy Utility::prepareLocalReply).
func (m *Manager) sendLocalReply(r LocalReply, from int) {
	if m.aborted || m.responseDone {
		return
	}
	if m.responseStarted {
		m.abort()
		return
	}
	if m.localReplied {
		return
	}
	m.localReplied = true
	m.info.Details = r.Details
	if m.upstream != nil {
		m.upstream.Reset()
	}
	for i := range m.dec {
		m.dec[i] = filterState{}
	}
	for i := range m.enc {
		m.enc[i] = filterState{}
	}
	h := NewHeaderMap([2]string{":status", strconv.Itoa(r.Status)})
	for _, p := range r.Headers {
		h.Add(p[0], p[1])
	}
	if len(r.Body) > 0 {
		h.Set("content-length", strconv.Itoa(len(r.Body)))
		if _, has := h.Get("content-type"); !has {
			h.Set("content-type", "text/plain")
		}
	}
	// Every encoder filter sees the reply, the one that sent it included
	// (Envoy encodes a local reply from the first encoder filter).
	_ = from
	m.encodeLocal(len(m.cfg.Filters)-1, h, r.Body)
}

func (m *Manager) encodeLocal(from int, h *HeaderMap, body []byte) {
	end := len(body) == 0
	for j := from; j >= 0; j-- {
		var st HeadersStatus
		m.callFilter(j, func() { st = m.cfg.Filters[j].EncodeHeaders(h, end) })
		m.applyImmediateNoReply()
		if m.aborted {
			return
		}
		_ = st // a filter cannot hold a local reply back in the host
	}
	m.writeHeaders(h, end)
	if !end && !m.aborted {
		data := NewBuffer(body)
		for j := from; j >= 0; j-- {
			m.callFilter(j, func() { m.cfg.Filters[j].EncodeData(data, true) })
			m.applyImmediateNoReply()
			if m.aborted {
				return
			}
		}
		m.writeData(data.Bytes(), true)
	}
}

// applyImmediateNoReply drops further local replies asked for while a
// local reply is being encoded (Envoy ignores a second local reply).
func (m *Manager) applyImmediateNoReply() {
	m.mu.Lock()
	var keep []event
	reset := false
	for _, ev := range m.queue {
		switch ev.kind {
		case evLocalReply:
		case evReset:
			reset = true
		default:
			keep = append(keep, ev)
		}
	}
	m.queue = keep
	m.mu.Unlock()
	if reset {
		m.abort()
	}
}

func (m *Manager) writeHeaders(h *HeaderMap, end bool) {
	if m.responseStarted || m.aborted {
		return
	}
	m.responseStarted = true
	m.respHeaders = h
	if s, ok := h.Get(":status"); ok {
		m.info.ResponseCode, _ = strconv.Atoi(s)
	}
	if err := m.cfg.Downstream.WriteHeaders(h, end); err != nil {
		m.abort()
		return
	}
	if end {
		m.responseDone = true
	}
}

func (m *Manager) writeData(b []byte, end bool) {
	if !m.responseStarted || m.responseDone || m.aborted {
		return
	}
	m.info.BytesSent += len(b)
	if err := m.cfg.Downstream.WriteData(b, end); err != nil {
		m.abort()
		return
	}
	if end {
		m.responseDone = true
	}
}

func (m *Manager) writeTrailers(t *HeaderMap) {
	if !m.responseStarted || m.responseDone || m.aborted {
		return
	}
	m.respTrailers = t
	if err := m.cfg.Downstream.WriteTrailers(t); err != nil {
		m.abort()
		return
	}
	m.responseDone = true
}

// callbacks are one filter's DecoderCallbacks (and, converted, its
// EncoderCallbacks).
type callbacks struct {
	m     *Manager
	index int
}

func (c *callbacks) ContinueDecoding() {
	c.m.post(event{kind: evContinueDecoding, filter: c.index})
}

func (c *callbacks) SendLocalReply(r LocalReply) {
	c.m.post(event{kind: evLocalReply, filter: c.index, reply: r})
}

func (c *callbacks) ResetStream() { c.m.post(event{kind: evReset, filter: c.index}) }

func (c *callbacks) DecodingBuffer() *Buffer { return c.m.dec[c.index].buffered }

func (c *callbacks) AddDecodedData(data *Buffer) bool { return c.m.bufferAt(c.index, data) }

type encCallbacks callbacks

func (c *encCallbacks) ContinueEncoding() {
	c.m.post(event{kind: evContinueEncoding, filter: c.index})
}

func (c *encCallbacks) SendLocalReply(r LocalReply) {
	(*callbacks)(c).SendLocalReply(r)
}

func (c *encCallbacks) ResetStream() { (*callbacks)(c).ResetStream() }

func (c *encCallbacks) EncodingBuffer() *Buffer { return c.m.enc[c.index].buffered }

func (c *encCallbacks) AddEncodedData(data *Buffer) bool { return c.m.encBufferAt(c.index, data) }
