package filter

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/jsonrpc"
)

// JSON-RPC 2.0 codes the filter uses beside those of package jsonrpc.
const codeInternalError = -32603

// Local replies (status, JSON-RPC code, message). The id of the reply is the
// request's id, byte for byte, when it could be read, else null (JSON-RPC
// 2.0 section 5: "If there was an error in detecting the id ... it MUST be
// Null"); a rate-limit reply to a notification has no id member (MCP
// Streamable HTTP allows an error without id in reply to a notification).
const (
	messageRateLimited      = "Rate limit exceeded"
	messageBatchUnsupported = "Batch requests are not supported"
	messageHeaderMismatch   = "Mcp-Method or Mcp-Name header does not match the request body"
	messageTooLarge         = "Request body too large"
	messageParseError       = "Parse error"
	statusBadRequest        = 400
	statusTooLarge          = 413
	statusUnsupportedMedia  = 415
)

var jsonNull = []byte("null")

// examined is what the decision needs from a request body, copied out of it
// so that the body can be dropped before the limiter answers.
type examined struct {
	// reply, when set, is the local reply to send instead of limiting.
	reply *localReply
	// batch is true for a JSON array body.
	batch bool
	// calls are the limited requests (tools/call and the configured
	// methods), in body order.
	calls []toolCall
	// replyIDs are the ids (copies) of the requests that get an error
	// response when the request is rejected: every request with an id,
	// in body order. A single notification has none: its rate-limit reply
	// has no id member.
	replyIDs [][]byte
}

// toolCall is one limited request: a tools/call, or a call of another
// limited method (see methods.go).
type toolCall struct {
	// tool is the configured tool called, or nil (a tool without limits of
	// its own, or a call without a string name). For another method it is
	// the configured prompt or resource named, or nil.
	tool *toolLimits
	// other is true for a call of a method other than tools/call; method
	// is then its methods entry, or nil.
	other  bool
	method *toolLimits
}

// localReply is a reply the filter sends itself.
type localReply struct {
	status  uint32
	id      []byte
	code    int
	message string
	// counter counts the reply.
	counter proxywasm.MetricCounter
}

// examine reads a request body the way the MCP server will (package
// jsonrpc) and decides what happens to it short of the limiter:
//
//   - not JSON: 400, -32700;
//   - JSON an MCP server could read differently from the filter, or not a
//     JSON-RPC request: 400, -32600 (jsonrpc.Read's code);
//   - a batch with batch "reject": 400, -32600;
//   - Mcp-Method / Mcp-Name headers disagreeing with the body (with a
//     batch: with any of its requests): 400, -32020;
//   - otherwise the tools/call requests to limit (possibly none).
func (s *settings) examine(body []byte, mirrored mirroredHeaders) examined {
	message, err := jsonrpc.Read(body)
	if err != nil {
		reply := &localReply{status: statusBadRequest, id: jsonNull, code: jsonrpc.CodeParseError,
			message: messageParseError, counter: s.metrics.invalid}
		var readErr *jsonrpc.Error
		if errors.As(err, &readErr) {
			reply.code, reply.message = readErr.Code, strings.Clone(readErr.Message)
			if readErr.ID != nil {
				reply.id = bytes.Clone(readErr.ID)
			}
		}
		return examined{reply: reply}
	}
	if message.Batch && s.cfg.Batch != config.BatchLimit {
		return examined{reply: &localReply{status: statusBadRequest, id: jsonNull,
			code: jsonrpc.CodeInvalidRequest, message: messageBatchUnsupported, counter: s.metrics.invalid}}
	}
	var request examined
	request.batch = message.Batch
	for i := range message.Requests {
		r := &message.Requests[i]
		if !mirrored.matches(r.Method, r.Name, r.HasName) {
			id := jsonNull
			if !message.Batch && r.ID != nil {
				id = bytes.Clone(r.ID)
			}
			return examined{reply: &localReply{status: statusBadRequest, id: id,
				code: jsonrpc.CodeHeaderMismatch, message: messageHeaderMismatch, counter: s.metrics.headerMismatch}}
		}
		if r.ID != nil && r.Method != "" {
			// A request (not a notification, not a client's response to a
			// server request) gets an error response if this is rejected.
			request.replyIDs = append(request.replyIDs, bytes.Clone(r.ID))
		}
		if r.Method != jsonrpc.MethodToolsCall {
			if call, limited := s.otherCall(r); limited {
				request.calls = append(request.calls, call)
			}
			continue
		}
		call := toolCall{}
		if r.HasToolName {
			call.tool = s.tools[r.ToolName]
		}
		request.calls = append(request.calls, call)
	}
	return request
}

// demands lists the tokens a request needs: the cost of each tools/call
// (its tool's cost, 1 for a tool without one) from each bucket that
// applies to it, summed per bucket.
//
//   - the shared bucket, when configured;
//   - the user's bucket, when configured and the request has an identity;
//   - for a configured tool: its shared bucket and the user's bucket for
//     it, when configured (and, for the latter, an identity is present).
//
// A tools/call without a string name, or naming a tool without limits of
// its own, draws from the shared and the user's bucket only: it is still
// counted, and per-tool state is never created for names a client invents.
func (s *settings) demands(calls []toolCall, user string) []bucket.Demand {
	var list []bucket.Demand
	add := func(b bucket.Bucket, tokens int64) {
		for i := range list {
			if list[i].Quota == nil && list[i].MaxInFlight == 0 && list[i].Bucket == b {
				list[i].Tokens += tokens
				return
			}
		}
		list = append(list, bucket.Demand{Bucket: b, Tokens: tokens})
	}
	addNamed := func(l *toolLimits, cost int64) {
		list = addQuotaDemands(list, l.quota, l.perUserQuota, l.kind, l.userKind, l.name, user)
		list = addCapDemands(list, l.concurrency, l.kind, l.userKind, l.name, user)
		if l.shared != nil {
			add(bucket.Bucket{Kind: l.kind, Tool: l.name, Limit: *l.shared}, cost)
		}
		if user != "" && l.perUser != nil {
			add(bucket.Bucket{Kind: l.userKind, Tool: l.name, User: user, Limit: *l.perUser}, cost)
		}
	}
	for _, call := range calls {
		cost := int64(config.DefaultCost)
		if call.tool != nil {
			cost = call.tool.cost
		}
		switch {
		case call.other && call.method != nil:
			addNamed(call.method, cost)
		case !call.other:
			list = addQuotaDemands(list, s.quota, s.perUserQuota, bucket.KindShared, bucket.KindUser, "", user)
			list = addCapDemands(list, s.cfg.Concurrency, bucket.KindShared, bucket.KindUser, "", user)
			if s.shared != nil {
				add(bucket.Bucket{Kind: bucket.KindShared, Limit: *s.shared}, cost)
			}
			if user != "" && s.perUser != nil {
				add(bucket.Bucket{Kind: bucket.KindUser, User: user, Limit: *s.perUser}, cost)
			}
		}
		if call.tool != nil {
			addNamed(call.tool, cost)
		}
	}
	return list
}

// act carries out what examine found: a local reply, letting the request
// through, or asking the limiter.
func (h *httpContext) act(request examined) types.Action {
	if request.reply != nil {
		r := request.reply
		r.counter.Increment(1)
		proxywasm.LogDebugf("mcp-ratelimit: answered %d, JSON-RPC %d: %q", r.status, r.code, r.message)
		return h.sendJSONError(r.status, r.id, r.code, r.message)
	}
	if len(request.calls) == 0 {
		h.phase = phasePassThrough
		return types.ActionContinue
	}
	user, known := h.settings.userOf(h.identity)
	if !known {
		return h.replyMissingIdentity(&request)
	}
	return h.limit(&request, user)
}

// limit asks the limiter for the tokens of a request's calls, user's
// per-user buckets included ("" for none), and admits or rejects it.
func (h *httpContext) limit(request *examined, user string) types.Action {
	demands := h.settings.demands(request.calls, user)
	if len(demands) == 0 {
		h.admit(request, bucket.Decision{Allowed: true}, false)
		return types.ActionContinue
	}
	h.phase = phaseDeciding
	h.pending = request
	h.inTake = true
	h.settings.limiter.Take(h.settings.now(), demands, h.onDecision)
	h.inTake = false
	switch h.phase {
	case phaseAdmitted:
		return types.ActionContinue
	default:
		// phaseDeciding: the limiter answers later, the request waits
		// (onDecision resumes it or replies); phaseReplied: rejected.
		return types.ActionPause
	}
}

// onDecision receives the limiter's answer, synchronously (inside Take) or
// later. Limiters call it once; further calls are ignored.
func (h *httpContext) onDecision(decision bucket.Decision, err error) {
	if h.phase != phaseDeciding || h.pending == nil {
		return
	}
	request := h.pending
	h.pending = nil
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
	case err != nil:
		// Fail open, as Envoy's own rate limit filter does by default
		// (failure_mode_deny: false): a broken store must not take the
		// MCP server down with it.
		m.storeErrors.Increment(1)
		proxywasm.LogWarnf("mcp-ratelimit: limiter failed, request admitted: %v", err)
		h.admit(request, bucket.Decision{Allowed: true}, false)
	case decision.Allowed:
		h.hold(decision.Lease)
		h.admit(request, decision, true)
	case h.settings.cfg.DryRun:
		incrementBy(m.dryRunRejected, request.toolCalls())
		proxywasm.LogInfof("mcp-ratelimit: dry run: would reject %d limited calls (%s), retry after %ds",
			len(request.calls), rejectedKinds(decision.Rejected), retryAfterSeconds(decision.RetryAfter))
		h.admit(request, decision, true)
	default:
		h.reject(request, decision)
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
// fields of the decision's tightest bucket.
func (h *httpContext) admit(request *examined, decision bucket.Decision, withHeaders bool) {
	h.phase = phaseAdmitted
	if decision.Allowed {
		incrementBy(h.settings.metrics.admitted, request.toolCalls())
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
		h.responseHeaders = rateLimitHeaderFields(decision.Tightest, wait)
	}
}

// reject answers a rate-limited request: status rejectStatus,
// content-type application/json, retry-after N (whole seconds until every
// rejecting bucket has a token again, rounded up, at least 1) and the
// JSON-RPC error {"code": errorCode, "message": "Rate limit exceeded",
// "data": {"retryAfterSeconds": N}}. A batch gets a JSON array with one
// such error per request with an id; a batch of notifications only gets no
// body at all (JSON-RPC 2.0 section 6: "should return nothing at all").
func (h *httpContext) reject(request *examined, decision bucket.Decision) {
	s := h.settings
	if decision.ConcurrencyExceeded {
		h.rejectConcurrent(request)
		return
	}
	calls := request.toolCalls()
	incrementBy(s.metrics.rejected, calls)
	seen := [len(s.metrics.rejectedByKind)]bool{}
	if decision.QuotaExceeded {
		// The kinds name quotas, not buckets: tools_call.rejected_quota
		// counts these.
		seen = [len(seen)]bool{true, true, true, true}
	}
	for _, kind := range decision.Rejected {
		if int(kind) < len(seen) && !seen[kind] {
			seen[kind] = true
			incrementBy(s.metrics.rejectedByKind[kind], calls)
		}
	}
	if decision.Contended {
		incrementBy(s.metrics.contended, calls)
	}
	if decision.QuotaExceeded {
		incrementBy(s.metrics.rejectedQuota, calls)
	}
	for _, call := range request.calls {
		if call.tool != nil {
			call.tool.rejected.Increment(1)
		}
		if call.method != nil {
			call.method.rejected.Increment(1)
		}
	}
	wait := retryAfterSeconds(decision.RetryAfter)
	proxywasm.LogDebugf("mcp-ratelimit: rejected %d limited calls (%s), retry after %ds",
		len(request.calls), rejectedKinds(decision.Rejected), wait)

	data := jsonrpc.RateLimitData(wait)
	var body []byte
	switch {
	case !request.batch:
		var id []byte
		if len(request.replyIDs) > 0 {
			id = request.replyIDs[0]
		}
		body = jsonrpc.ErrorResponse(id, s.cfg.ErrorCode, messageRateLimited, data)
	case len(request.replyIDs) > 0:
		body = append(body, '[')
		for i, id := range request.replyIDs {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, jsonrpc.ErrorResponse(id, s.cfg.ErrorCode, messageRateLimited, data)...)
		}
		body = append(body, ']')
	}
	headers := [][2]string{{"retry-after", strconv.FormatInt(wait, 10)}}
	if len(body) > 0 {
		headers = append(headers, [2]string{"content-type", "application/json"})
	}
	if s.cfg.RateLimitHeaders {
		headers = append(headers, rateLimitHeaderFields(decision.Tightest, wait)...)
	}
	h.send(uint32(s.cfg.RejectStatus), headers, body)
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
	return h.sendJSONError(statusTooLarge, jsonNull, jsonrpc.CodeInvalidRequest, messageTooLarge)
}

// replyUnsupportedEncoding answers a request whose headers would let the
// server decode its body differently from the filter (see
// bodyencoding.go): 415 with a JSON-RPC -32600 error naming the problem.
// The body is never read, so the reply carries no request id.
func (h *httpContext) replyUnsupportedEncoding(problem bodyEncodingProblem) types.Action {
	h.settings.metrics.unsupportedEncoding.Increment(1)
	proxywasm.LogDebugf("mcp-ratelimit: answered 415: %s", problem.message())
	return h.sendJSONError(statusUnsupportedMedia, jsonNull, jsonrpc.CodeInvalidRequest, problem.message())
}

// send sends a local reply and ends the filter's work on the stream.
func (h *httpContext) send(status uint32, headers [][2]string, body []byte) {
	h.phase = phaseReplied
	h.pending = nil
	if err := proxywasm.SendHttpResponse(status, headers, body, -1); err != nil {
		proxywasm.LogErrorf("mcp-ratelimit: send local reply %d: %v", status, err)
	}
}

// rejectedKinds names the rejecting bucket kinds for a log line.
func rejectedKinds(kinds []bucket.Kind) string {
	text := ""
	for i, kind := range kinds {
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
