package proxywasm

import (
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
)

// FailStreamDetails is the response code detail of the 503 a failed VM
// answers (Envoy context.cc FailStreamResponseDetails).
const FailStreamDetails = "wasm_fail_stream"

// Stream is an HTTP context of a plugin: one request/response through one
// Wasm filter. It implements filterchain.Filter with the semantics of
// Envoy's Wasm Context (source/extensions/common/wasm/context.cc
// decodeHeaders, decodeData, encodeHeaders, ..., log, onDestroy).
type Stream struct {
	vm    *VM
	root  *RootContext
	id    uint32
	props StreamProps
	// FailOpen lets the stream continue when the VM fails during it
	// (failure_policy FAIL_OPEN); otherwise it is answered 503.
	FailOpen bool

	dec filterchain.DecoderCallbacks
	enc filterchain.EncoderCallbacks

	created, destroyed bool

	// Maps and buffers the module can reach right now (nil when Envoy
	// would not expose them).
	reqHeaders, reqTrailers, respHeaders, respTrailers *filterchain.HeaderMap
	reqBody, respBody                                  *filterchain.Buffer
	bufferingReq, bufferingResp                        bool

	origRequestHeaders  *filterchain.HeaderMap
	respHeadersForProps *filterchain.HeaderMap
	responseDetails     string
	requestComplete     bool
	requestDuration     time.Duration

	logPhase bool
	logInfo  *filterchain.StreamInfo

	// calloutsHere is true during the stream's own callbacks: the
	// callouts the module makes then are kept in callouts and sent by
	// this goroutine when the callback is over (see callHere).
	calloutsHere bool
	callouts     []func()

	stopNext         bool // a local reply was sent during the current call
	failureReplySent bool
	filterState      map[string][]byte
}

// NewStream creates an HTTP context for the plugin. The module hears of it
// (proxy_on_context_create) with the request headers, as Envoy's
// Context::onCreate is called from decodeHeaders.
func (r *RootContext) NewStream(props StreamProps) *Stream {
	vm := r.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	st := &Stream{vm: vm, root: r, id: vm.nextContextID, props: props}
	vm.nextContextID++
	vm.streams[st.id] = st
	return st
}

// ID is the stream's context id.
func (st *Stream) ID() uint32 { return st.id }

// SetCallbacks implements filterchain.Filter.
func (st *Stream) SetCallbacks(dec filterchain.DecoderCallbacks, enc filterchain.EncoderCallbacks) {
	st.dec, st.enc = dec, enc
}

// checkFailed follows proxy-wasm-cpp-host's CHECK_FAIL_HTTP: on a failed
// VM a fail-open plugin continues, otherwise the stream gets a 503 once.
func (st *Stream) checkFailed(request bool) (failed, continueStream bool) {
	if st.vm.failed == nil && !st.vm.closed {
		return false, false
	}
	if st.FailOpen {
		return true, true
	}
	if !st.failureReplySent {
		st.failureReplySent = true
		st.responseDetails = FailStreamDetails
		reply := filterchain.LocalReply{Status: 503, Details: FailStreamDetails}
		if request && st.dec != nil {
			st.dec.SendLocalReply(reply)
		} else if st.enc != nil {
			st.enc.SendLocalReply(reply)
		}
	}
	return true, false
}

func (st *Stream) onCreate() {
	if st.created {
		return
	}
	st.created = true
	_, _, _ = st.vm.call(st.id, "proxy_on_context_create", uint64(st.id), uint64(st.root.id))
}

func boolArg(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// headersStatus converts a module's answer (cpp-host
// convertVmCallResultToFilterHeadersStatus): after a local reply, or for
// an unknown value, StopAllIterationAndWatermark.
func (st *Stream) headersStatus(res uint64) filterchain.HeadersStatus {
	if st.stopNext || res > uint64(filterchain.HeadersStopAllIterationAndWatermark) {
		return filterchain.HeadersStopAllIterationAndWatermark
	}
	return filterchain.HeadersStatus(res)
}

func (st *Stream) dataStatus(res uint64) filterchain.DataStatus {
	if st.stopNext || res > uint64(filterchain.DataStopIterationNoBuffer) {
		return filterchain.DataStopIterationNoBuffer
	}
	return filterchain.DataStatus(res)
}

func (st *Stream) trailersStatus(res uint64) filterchain.TrailersStatus {
	if st.stopNext || res > uint64(filterchain.TrailersContinue) {
		return filterchain.TrailersStopIteration
	}
	return filterchain.TrailersContinue
}

// DecodeHeaders implements filterchain.Filter.
func (st *Stream) DecodeHeaders(h *filterchain.HeaderMap, endStream bool) filterchain.HeadersStatus {
	vm := st.vm
	vm.mu.Lock()
	defer st.sendCallouts()
	defer vm.mu.Unlock()
	st.origRequestHeaders = h
	if failed, cont := st.checkFailed(true); failed {
		if cont {
			return filterchain.HeadersContinue
		}
		return filterchain.HeadersStopAllIterationAndWatermark
	}
	st.onCreate()
	st.reqHeaders = h
	st.stopNext = false
	res := st.callHere("proxy_on_request_headers", uint64(st.id), uint64(h.Len()), boolArg(endStream))
	if failed, cont := st.checkFailed(true); failed {
		if cont {
			return filterchain.HeadersContinue
		}
		return filterchain.HeadersStopAllIterationAndWatermark
	}
	status := st.headersStatus(res)
	st.stopNext = false
	if status == filterchain.HeadersContinue {
		st.reqHeaders = nil
	}
	if endStream {
		st.requestComplete = true
	}
	return status
}

// callHere runs a stream callback of the module. The callouts it makes
// (proxy_http_call) are sent afterwards by this goroutine, the stream's,
// which waits for their responses and delivers them (sendCallouts) before
// the stream goes on, as Envoy's worker thread sends and receives them
// without a thread of their own; a goroutine per callout would cost two
// hand-overs between goroutines (to the callout, back to the stream) per
// call. The stream handles no other event meanwhile, at most until the
// callout's timeout.
func (st *Stream) callHere(name string, params ...uint64) uint64 {
	st.calloutsHere = true
	res, _, _ := st.vm.call(st.id, name, params...)
	st.calloutsHere = false
	return res
}

// sendCallouts sends the callouts of the last callback, once the VM is
// unlocked: each delivers its response to the module itself.
func (st *Stream) sendCallouts() {
	pending := st.callouts
	st.callouts = nil
	for _, send := range pending {
		send()
	}
}

// DecodeData implements filterchain.Filter. While the module buffers
// (it answered StopIterationAndBuffer before) the new chunk is first added
// to the filter's buffered data, and the module sees, and is told the size
// of, the whole buffered body (Envoy Context::decodeData and getBuffer).
func (st *Stream) DecodeData(data *filterchain.Buffer, endStream bool) filterchain.DataStatus {
	vm := st.vm
	vm.mu.Lock()
	defer st.sendCallouts()
	defer vm.mu.Unlock()
	if !st.created {
		return filterchain.DataContinue
	}
	if failed, cont := st.checkFailed(true); failed {
		if cont {
			return filterchain.DataContinue
		}
		return filterchain.DataStopIterationNoBuffer
	}
	if st.bufferingReq && st.dec != nil {
		if !st.dec.AddDecodedData(data) {
			// The buffer limit was exceeded: the manager answers 413 and
			// the VM is not called.
			return filterchain.DataStopIterationAndBuffer
		}
	}
	st.reqBody = data
	size := 0
	if b := st.bodyBuffer(true); b != nil {
		size = b.Len()
	}
	st.stopNext = false
	res := st.callHere("proxy_on_request_body", uint64(st.id), uint64(size), boolArg(endStream))
	if failed, cont := st.checkFailed(true); failed {
		if cont {
			return filterchain.DataContinue
		}
		return filterchain.DataStopIterationNoBuffer
	}
	status := st.dataStatus(res)
	st.stopNext = false
	st.bufferingReq = false
	switch status {
	case filterchain.DataContinue:
		st.reqBody = nil
	case filterchain.DataStopIterationAndBuffer:
		st.bufferingReq = true
	}
	if endStream {
		st.requestComplete = true
	}
	return status
}

// DecodeTrailers implements filterchain.Filter.
func (st *Stream) DecodeTrailers(t *filterchain.HeaderMap) filterchain.TrailersStatus {
	vm := st.vm
	vm.mu.Lock()
	defer st.sendCallouts()
	defer vm.mu.Unlock()
	if !st.created {
		return filterchain.TrailersContinue
	}
	if failed, cont := st.checkFailed(true); failed {
		if cont {
			return filterchain.TrailersContinue
		}
		return filterchain.TrailersStopIteration
	}
	st.reqTrailers = t
	st.stopNext = false
	res := st.callHere("proxy_on_request_trailers", uint64(st.id), uint64(t.Len()))
	if failed, cont := st.checkFailed(true); failed {
		if cont {
			return filterchain.TrailersContinue
		}
		return filterchain.TrailersStopIteration
	}
	status := st.trailersStatus(res)
	st.stopNext = false
	if status == filterchain.TrailersContinue {
		st.reqTrailers = nil
	}
	st.requestComplete = true
	return status
}

// EncodeHeaders implements filterchain.Filter. After the stream failed and
// its 503 was sent, the VM is not called again (Envoy encodeHeaders).
func (st *Stream) EncodeHeaders(h *filterchain.HeaderMap, endStream bool) filterchain.HeadersStatus {
	vm := st.vm
	vm.mu.Lock()
	defer st.sendCallouts()
	defer vm.mu.Unlock()
	st.respHeadersForProps = h
	if !st.created || st.failureReplySent {
		return filterchain.HeadersContinue
	}
	if failed, cont := st.checkFailed(false); failed {
		if cont {
			return filterchain.HeadersContinue
		}
		return filterchain.HeadersStopAllIterationAndWatermark
	}
	st.respHeaders = h
	st.stopNext = false
	res := st.callHere("proxy_on_response_headers", uint64(st.id), uint64(h.Len()), boolArg(endStream))
	if failed, cont := st.checkFailed(false); failed {
		if cont {
			return filterchain.HeadersContinue
		}
		return filterchain.HeadersStopAllIterationAndWatermark
	}
	status := st.headersStatus(res)
	st.stopNext = false
	if status == filterchain.HeadersContinue {
		st.respHeaders = nil
	}
	return status
}

// EncodeData implements filterchain.Filter.
func (st *Stream) EncodeData(data *filterchain.Buffer, endStream bool) filterchain.DataStatus {
	vm := st.vm
	vm.mu.Lock()
	defer st.sendCallouts()
	defer vm.mu.Unlock()
	if !st.created || st.failureReplySent {
		return filterchain.DataContinue
	}
	if failed, cont := st.checkFailed(false); failed {
		if cont {
			return filterchain.DataContinue
		}
		return filterchain.DataStopIterationNoBuffer
	}
	if st.bufferingResp && st.enc != nil {
		if !st.enc.AddEncodedData(data) {
			return filterchain.DataStopIterationAndBuffer
		}
	}
	st.respBody = data
	size := 0
	if b := st.bodyBuffer(false); b != nil {
		size = b.Len()
	}
	st.stopNext = false
	res := st.callHere("proxy_on_response_body", uint64(st.id), uint64(size), boolArg(endStream))
	if failed, cont := st.checkFailed(false); failed {
		if cont {
			return filterchain.DataContinue
		}
		return filterchain.DataStopIterationNoBuffer
	}
	status := st.dataStatus(res)
	st.stopNext = false
	st.bufferingResp = false
	switch status {
	case filterchain.DataContinue:
		st.respBody = nil
	case filterchain.DataStopIterationAndBuffer:
		st.bufferingResp = true
	}
	return status
}

// EncodeTrailers implements filterchain.Filter.
func (st *Stream) EncodeTrailers(t *filterchain.HeaderMap) filterchain.TrailersStatus {
	vm := st.vm
	vm.mu.Lock()
	defer st.sendCallouts()
	defer vm.mu.Unlock()
	if !st.created || st.failureReplySent {
		return filterchain.TrailersContinue
	}
	if failed, cont := st.checkFailed(false); failed {
		if cont {
			return filterchain.TrailersContinue
		}
		return filterchain.TrailersStopIteration
	}
	st.respTrailers = t
	st.stopNext = false
	res := st.callHere("proxy_on_response_trailers", uint64(st.id), uint64(t.Len()))
	status := st.trailersStatus(res)
	st.stopNext = false
	if status == filterchain.TrailersContinue {
		st.respTrailers = nil
	}
	return status
}

// Log implements filterchain.Filter: proxy_on_log with the request and
// response headers readable (Envoy Context::log, access-log phase). A
// stream whose headers never reached the filter is created first.
func (st *Stream) Log(info *filterchain.StreamInfo) {
	vm := st.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.failed != nil || vm.closed {
		return
	}
	if info != nil {
		st.responseDetails = info.Details
		if info.ResponseHeaders != nil {
			st.respHeadersForProps = info.ResponseHeaders
		}
		if st.origRequestHeaders == nil {
			st.origRequestHeaders = info.RequestHeaders
		}
	}
	if !st.props.Start.IsZero() {
		st.requestDuration = vm.env.now().Sub(st.props.Start)
	}
	st.onCreate()
	st.logPhase, st.logInfo = true, info
	_, _, _ = vm.call(st.id, "proxy_on_log", uint64(st.id))
	st.logPhase, st.logInfo = false, nil
}

// OnDestroy implements filterchain.Filter: proxy_on_done then
// proxy_on_delete (Envoy Context::onDestroy), and the context is
// forgotten.
func (st *Stream) OnDestroy() {
	vm := st.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	defer delete(vm.streams, st.id)
	if st.destroyed || !st.created {
		return
	}
	st.destroyed = true
	if vm.failed != nil || vm.closed {
		return
	}
	_, _, _ = vm.call(st.id, "proxy_on_done", uint64(st.id))
	_, _, _ = vm.call(st.id, "proxy_on_delete", uint64(st.id))
}

// headerMap returns a map for host calls (Envoy getMap / getConstMap).
func (st *Stream) headerMap(t uint32, mutable bool) *filterchain.HeaderMap {
	if st.logPhase && !mutable && st.logInfo != nil {
		switch t {
		case mapRequestHeaders:
			return st.logInfo.RequestHeaders
		case mapResponseHeaders:
			return st.logInfo.ResponseHeaders
		case mapResponseTrailers:
			return st.logInfo.ResponseTrailers
		}
		return nil
	}
	switch t {
	case mapRequestHeaders:
		return st.reqHeaders
	case mapRequestTrailers:
		return st.reqTrailers
	case mapResponseHeaders:
		return st.respHeaders
	case mapResponseTrailers:
		return st.respTrailers
	}
	return nil
}

// bodyBuffer is the body a host call reads: the filter's buffered data
// while buffering, else the current chunk.
func (st *Stream) bodyBuffer(request bool) *filterchain.Buffer {
	if request {
		if st.bufferingReq && st.dec != nil {
			if b := st.dec.DecodingBuffer(); b != nil {
				return b
			}
		}
		return st.reqBody
	}
	if st.bufferingResp && st.enc != nil {
		if b := st.enc.EncodingBuffer(); b != nil {
			return b
		}
	}
	return st.respBody
}

// sendLocalResponse is proxy_send_local_response: the reply is sent after
// the VM call returns and the filter's status becomes a stop (cpp-host
// stopNextIteration).
func (st *Stream) sendLocalResponse(r filterchain.LocalReply) {
	st.stopNext = true
	st.responseDetails = r.Details
	if st.dec != nil {
		st.dec.SendLocalReply(r)
	}
}

// continueStream is proxy_continue_stream (Envoy Context::continueStream):
// continueDecoding/continueEncoding run after the VM call, and the request
// maps and body stop being reachable.
func (st *Stream) continueStream(request bool) {
	if request {
		if st.dec != nil {
			st.dec.ContinueDecoding()
		}
	} else if st.enc != nil {
		st.enc.ContinueEncoding()
	}
	st.reqHeaders, st.reqBody, st.reqTrailers = nil, nil, nil
}

// closeStream is proxy_close_stream: the stream is reset.
func (st *Stream) closeStream(request bool) {
	if request && st.dec != nil {
		st.dec.ResetStream()
	} else if st.enc != nil {
		st.enc.ResetStream()
	}
}
