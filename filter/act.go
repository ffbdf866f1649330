package filter

import (
	"errors"
	"strconv"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/jsonrpc"
)

// act carries out what examine found: a local reply, letting the request
// through, or asking the limiter. request is the stream's (its
// inspection's), which the decision may outlive the callback.
func (h *httpContext) act(request *examined) types.Action {
	if request.reply != nil {
		r := request.reply
		r.counter.Increment(1)
		return h.sendJSONError(r.status, r.id, r.code, r.message)
	}
	if len(request.calls) == 0 {
		h.phase = phasePassThrough
		return types.ActionContinue
	}
	user, known := h.settings.userOf(h.inspected.identity)
	if !known {
		return h.replyMissingIdentity(request)
	}
	return h.limit(request, user)
}

// limit asks the limiter for the tokens of a request's calls, user's
// per-user buckets included ("" for none), and admits or rejects it.
func (h *httpContext) limit(request *examined, user string) types.Action {
	demands := h.settings.demands(request.calls, user, h.inspected.buffers.demands[:0])
	if len(demands) == 0 {
		h.admit(request, &bucket.Decision{Allowed: true}, false)
		return types.ActionContinue
	}
	h.phase = phaseDeciding
	h.inspected.pending = request
	h.inTake = true
	h.settings.limiter.Take(h.settings.now(), demands, h)
	h.inTake = false
	switch h.phase {
	case phaseAdmitted:
		return types.ActionContinue
	default:
		// phaseDeciding: the limiter answers later, the request waits
		// (Decided resumes it or replies); phaseReplied: rejected.
		return types.ActionPause
	}
}

// Decided implements bucket.Decider: it receives the limiter's answer,
// synchronously (inside Take) or later. Limiters call it once; further
// calls are ignored. The stream itself is the Decider, so a take
// allocates no callback.
func (h *httpContext) Decided(decision bucket.Decision, err error) {
	if h.phase != phaseDeciding || h.inspected == nil || h.inspected.pending == nil {
		return
	}
	request := h.inspected.pending
	h.inspected.pending = nil
	async := !h.inTake
	if h.streamDone {
		// The client went away while the limiter worked.
		h.settings.release(decision.Lease)
		h.phase = phasePassThrough
		return
	}
	if async {
		// Host calls act on the effective context: outside the stream's
		// own callbacks it must be set to the stream first.
		if err := proxywasm.SetEffectiveContext(h.contextID); err != nil {
			proxywasm.LogErrorf("mcp-ratelimit: stream %d gone before the limiter answered: %v", h.contextID, err)
			h.phase = phasePassThrough
			return
		}
	}
	m := &h.settings.metrics
	if decision.Overflowed {
		m.userOverflow.Increment(1)
	}
	switch {
	case err != nil && errors.Is(err, bucket.ErrStoreUnavailable):
		// Redis could not decide and failureMode is "closed". (err is
		// tested first: errors.Is is a call in the VM.)
		proxywasm.LogWarnf("mcp-ratelimit: limiter unavailable, request refused: %v", err)
		h.unavailable(request)
		return
	case err != nil:
		// Fail open, as Envoy's own rate limit filter does by default
		// (failure_mode_deny: false): a broken store must not take the
		// MCP server down with it.
		m.storeErrors.Increment(1)
		proxywasm.LogWarnf("mcp-ratelimit: limiter failed, request admitted: %v", err)
		h.admit(request, &bucket.Decision{Allowed: true}, false)
	case decision.Allowed:
		if decision.Lease != nil {
			h.hold(decision.Lease)
		}
		h.admit(request, &decision, true)
	case h.settings.cfg.DryRun:
		m.dryRunRejected.Increment(request.toolCalls())
		proxywasm.LogInfof("mcp-ratelimit: dry run: would reject %d limited calls (%s), retry after %ds",
			len(request.calls), rejectedKinds(decision.Rejected), retryAfterSeconds(decision.RetryAfter))
		h.admit(request, &decision, true)
	default:
		h.reject(request, &decision)
		return
	}
	if async {
		if err := proxywasm.ResumeHttpRequest(); err != nil {
			proxywasm.LogErrorf("mcp-ratelimit: resume request: %v", err)
		}
	}
}

// admit lets the request through and counts its calls. With withHeaders
// and rateLimitHeaders configured, the response will carry the RateLimit
// fields of the decision's tightest bucket. decision is a pointer, as in
// reject: in a Wasm VM handing it on by value is a call.
func (h *httpContext) admit(request *examined, decision *bucket.Decision, withHeaders bool) {
	h.phase = phaseAdmitted
	if decision.Allowed {
		h.settings.metrics.admitted.Increment(request.toolCalls())
		for _, call := range request.calls {
			if call.tool != nil {
				call.tool.admitted.Increment(1)
			}
			if call.method != nil {
				call.method.admitted.Increment(1)
			}
		}
	}
	if withHeaders && h.settings.cfg.RateLimitHeaders {
		wait := int64(0)
		if !decision.Allowed {
			wait = retryAfterSeconds(decision.RetryAfter)
		}
		h.inspected.responseHeaders = rateLimitHeaderFields(decision.Tightest, wait)
	}
}

// reject answers a rate-limited request: status rejectStatus,
// content-type application/json, retry-after N (whole seconds until every
// rejecting bucket has a token again, rounded up, at least 1) and the
// JSON-RPC error {"code": errorCode, "message": "Rate limit exceeded",
// "data": {"retryAfterSeconds": N}}. A batch gets a JSON array with one
// such error per request with an id; a batch of notifications only gets no
// body at all (JSON-RPC 2.0 section 6: "should return nothing at all").
func (h *httpContext) reject(request *examined, decision *bucket.Decision) {
	s := h.settings
	if decision.ConcurrencyExceeded {
		h.rejectConcurrent(request)
		return
	}
	calls := request.toolCalls()
	s.metrics.rejected.Increment(calls)
	if !decision.QuotaExceeded {
		// A quota's kinds name quotas, not buckets:
		// tools_call.rejected_quota counts those.
		for kind, counter := range s.metrics.rejectedByKind {
			if decision.Rejected.Has(bucket.Kind(kind)) {
				counter.Increment(calls)
			}
		}
	}
	if decision.Contended {
		s.metrics.contended.Increment(calls)
	}
	if decision.QuotaExceeded {
		s.metrics.rejectedQuota.Increment(calls)
	}
	for i := range request.calls { // not by value: a copy, a call in the VM
		if call := &request.calls[i]; call.tool != nil {
			call.tool.rejected.Increment(1)
		}
		if call := &request.calls[i]; call.method != nil {
			call.method.rejected.Increment(1)
		}
	}
	wait := retryAfterSeconds(decision.RetryAfter)
	waitText := s.retryAfterText(wait)
	// Not logged: the SDK formats a log line before the host filters it by
	// level, which made a rejection cost more than an admission; the
	// counters above say what was rejected and why.

	body := replyBody()
	switch {
	case !request.batch:
		var id []byte
		if len(request.replyIDs) > 0 {
			id = request.replyIDs[0]
		}
		body = s.rateLimitReply.Append(body, id, waitText)
	case len(request.replyIDs) > 0:
		body = append(body, '[')
		for i, id := range request.replyIDs {
			if i > 0 {
				body = append(body, ',')
			}
			body = s.rateLimitReply.Append(body, id, waitText)
		}
		body = append(body, ']')
	}
	if !s.cfg.RateLimitHeaders {
		// The headers of a flood's rejections are mostly the same bytes.
		h.sendPairs(uint32(s.cfg.RejectStatus), s.rejectionPairs(wait, len(body) > 0), body)
		keepReplyBody(body)
		return
	}
	headers := appendRejectionHeaders(make([][2]string, 0, 4), waitText, len(body) > 0)
	headers = append(headers, rateLimitHeaderFields(decision.Tightest, wait)...)
	h.send(uint32(s.cfg.RejectStatus), headers, body)
	keepReplyBody(body)
}

// appendRejectionHeaders appends the headers every rejection carries:
// Retry-After (seconds, as text) and, with a body, Content-Type.
func appendRejectionHeaders(dst [][2]string, retryAfter string, withBody bool) [][2]string {
	dst = append(dst, [2]string{"retry-after", retryAfter})
	if withBody {
		dst = append(dst, [2]string{"content-type", "application/json"})
	}
	return dst
}

// rejectionPairs returns the serialised headers of a rejection without
// RateLimit fields (appendRejectionHeaders). The last ones are kept and
// reused while the wait in seconds and the body's presence stay the same,
// as they mostly do under a flood.
func (s *settings) rejectionPairs(seconds int64, withBody bool) []byte {
	c := &s.rejectionHeaders
	if c.pairs == nil || c.seconds != seconds || c.withBody != withBody {
		var room [2][2]string
		c.seconds, c.withBody = seconds, withBody
		c.pairs = appendPairs(c.pairs[:0], appendRejectionHeaders(room[:0], s.retryAfterText(seconds), withBody))
	}
	return c.pairs
}

// retryAfterText returns seconds as the text of a Retry-After field.
func (s *settings) retryAfterText(seconds int64) string {
	if s.retryAfter.text == "" || s.retryAfter.seconds != seconds {
		s.retryAfter.seconds, s.retryAfter.text = seconds, strconv.FormatInt(seconds, 10)
	}
	return s.retryAfter.text
}

// sendJSONError sends a local reply carrying one JSON-RPC error.
func (h *httpContext) sendJSONError(status uint32, id []byte, code int, message string) types.Action {
	body := jsonrpc.ErrorResponse(id, code, message, nil)
	h.send(status, [][2]string{{"content-type", "application/json"}}, body)
	return types.ActionPause
}

// replyTooLarge answers a body above maxRequestBodyBytes: 413 with a
// JSON-RPC -32600 error. Such a body is never passed on uninspected.
func (h *httpContext) replyTooLarge() types.Action {
	h.settings.metrics.oversized.Increment(1)
	return h.sendJSONError(statusTooLarge, nil, jsonrpc.CodeInvalidRequest, messageTooLarge)
}

// replyUnsupportedEncoding answers a request whose headers would let the
// server decode its body differently from the filter (see
// bodyencoding.go): 415 with a JSON-RPC -32600 error naming the problem.
// The body is never read, so the reply carries no request id.
func (h *httpContext) replyUnsupportedEncoding(problem bodyEncodingProblem) types.Action {
	h.settings.metrics.unsupportedEncoding.Increment(1)
	return h.sendJSONError(statusUnsupportedMedia, nil, jsonrpc.CodeInvalidRequest, problem.message())
}

// send sends a local reply and ends the filter's work on the stream.
func (h *httpContext) send(status uint32, headers [][2]string, body []byte) {
	h.replied()
	if err := sendLocalResponse(status, headers, body); err != nil {
		proxywasm.LogErrorf("mcp-ratelimit: send local reply %d: %v", status, err)
	}
}

// sendPairs is send with the headers already serialised (appendPairs).
func (h *httpContext) sendPairs(status uint32, pairs, body []byte) {
	h.replied()
	if err := sendLocalResponsePairs(status, pairs, body); err != nil {
		proxywasm.LogErrorf("mcp-ratelimit: send local reply %d: %v", status, err)
	}
}

// replied records that the stream is answered locally.
func (h *httpContext) replied() {
	h.phase = phaseReplied
	if h.inspected != nil {
		h.inspected.pending = nil
	}
}

// rejectedKinds names the rejecting bucket kinds for a log line.
func rejectedKinds(kinds bucket.KindSet) string {
	text := ""
	for i, kind := range kinds.Kinds() {
		if i > 0 {
			text += ","
		}
		text += policyName(kind)
	}
	if text == "" {
		return "no bucket named"
	}
	return text
}
