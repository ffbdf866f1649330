package filter

import (
	"bytes"
	"errors"
	"strings"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/jsonrpc"
)

// JSON-RPC 2.0 codes the filter uses beside those of package jsonrpc.
const codeInternalError = -32603

// Local replies (status, JSON-RPC code, message). The id of the reply is the
// request's id, byte for byte, when it could be read; otherwise (a body
// that is not JSON, a batch, a request with "id": null) and in a
// rate-limit reply to a notification the reply has no id member: MCP types
// a request id as a string or a number and an error's id as optional
// (schema 2025-11-25), so an MCP client accepts no "id": null, which
// JSON-RPC 2.0 section 5 would send instead.
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

// examineBuffers give the read message room for one request, its id and
// its name, the slices of an examined request room for one call and one
// id, and its demands room for the four buckets of a tools/call, without
// an allocation of their own.
type examineBuffers struct {
	requests [1]jsonrpc.Request
	calls    [1]toolCall
	ids      [1][]byte
	demands  [4]bucket.Demand
	// text holds the copies of a request's id and name
	// (jsonrpc.ReadInto): room for a UUID in quotes and a tool name. The
	// examined request refers to the id until the stream ends; the name
	// is used only while the body is examined.
	text [96]byte
}

// clear sets e to the zero examined, field by field (see keepInspection).
func (e *examined) clear() {
	e.reply, e.batch, e.calls, e.replyIDs = nil, false, nil, nil
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
	status uint32
	// id is the request's raw id, or nil for a reply without id member.
	id      []byte
	code    int
	message string
	// counter counts the reply.
	counter metricCounter
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
//
// The outcome goes to *out (the stream's), and mirrored is read in place:
// in a Wasm VM handing either on by value is a call.
func (s *settings) examine(body []byte, mirrored *mirroredHeaders, buffers *examineBuffers, out *examined) {
	message, err := jsonrpc.ReadInto(body, buffers.requests[:0], buffers.text[:0], &s.readScratch)
	if err != nil {
		reply := &localReply{status: statusBadRequest, code: jsonrpc.CodeParseError,
			message: messageParseError, counter: s.metrics.invalid}
		var readErr *jsonrpc.Error
		if errors.As(err, &readErr) {
			reply.code, reply.message = readErr.Code, strings.Clone(readErr.Message)
			if readErr.ID != nil {
				reply.id = bytes.Clone(readErr.ID)
			}
		}
		*out = examined{reply: reply}
		return
	}
	if message.Batch && s.cfg.Batch != config.BatchLimit {
		*out = examined{reply: &localReply{status: statusBadRequest,
			code: jsonrpc.CodeInvalidRequest, message: messageBatchUnsupported, counter: s.metrics.invalid}}
		return
	}
	// Field by field: clearing *out first is a loop of memory copies in a
	// Wasm VM under wazero (see keepInspection).
	out.reply, out.calls, out.replyIDs, out.batch = nil, buffers.calls[:0], buffers.ids[:0], message.Batch
	request := out
	for i := range message.Requests {
		r := &message.Requests[i]
		if !mirrored.matches(r.Method, r.Name, r.HasName) {
			var id []byte
			if !message.Batch && r.ID != nil {
				id = bytes.Clone(r.ID)
			}
			*out = examined{reply: &localReply{status: statusBadRequest, id: id,
				code: jsonrpc.CodeHeaderMismatch, message: messageHeaderMismatch, counter: s.metrics.headerMismatch}}
			return
		}
		if r.ID != nil && r.Method != "" {
			// A request (not a notification, not a client's response to a
			// server request) gets an error response if this is rejected.
			// r.ID is already a copy, in buffers.text.
			request.replyIDs = append(request.replyIDs, r.ID)
		}
		if !r.IsToolsCall() {
			if call, limited := s.otherCall(r); limited {
				request.calls = append(request.calls, call)
			}
			continue
		}
		call := toolCall{}
		if r.HasToolName && len(s.tools) > 0 {
			// A look-up in a map, even an empty one, is a call in the VM.
			call.tool = s.tools[r.ToolName]
		}
		request.calls = append(request.calls, call)
	}
}

// addBucketDemand adds tokens from the token bucket (kind, tool, user,
// *limit) to list: to that bucket's demand when list has one, else as a
// new demand. The demand is written field by field in list's memory: in a
// Wasm VM a Bucket or a Demand built first and then copied costs a call
// each time.
func addBucketDemand(list []bucket.Demand, kind bucket.Kind, tool, user string, limit *bucket.Limit, tokens int64) []bucket.Demand {
	for i := range list {
		// The kind first: comparing strings is a call in the VM, and a
		// request's buckets are mostly of different kinds.
		if d := &list[i]; d.Bucket.Kind == kind && !d.CountsCalls() &&
			d.Bucket.Limit == *limit && d.Bucket.Tool == tool && d.Bucket.User == user {
			d.Tokens += tokens
			return list
		}
	}
	if len(list) == cap(list) {
		list = append(list, bucket.Demand{})
	} else {
		// Not appending a zero Demand: clearing one is a loop of memory
		// copies in a Wasm VM under wazero (see keepInspection).
		list = list[:len(list)+1]
	}
	d := &list[len(list)-1]
	d.Bucket.Kind, d.Bucket.Tool, d.Bucket.User, d.Bucket.Limit, d.Tokens = kind, tool, user, *limit, tokens
	d.Quota, d.MaxInFlight = nil, 0
	return list
}

// demands lists, in buffer's memory while it has room, the tokens a
// request needs: the cost of each tools/call (its tool's cost, 1 for a
// tool without one) from each bucket that applies to it, summed per
// bucket.
//
//   - the shared bucket, when configured;
//   - the user's bucket, when configured and the request has an identity;
//   - for a configured tool: its shared bucket and the user's bucket for
//     it, when configured (and, for the latter, an identity is present).
//
// A tools/call without a string name, or naming a tool without limits of
// its own, draws from the shared and the user's bucket only: it is still
// counted, and per-tool state is never created for names a client invents.
func (s *settings) demands(calls []toolCall, user string, buffer []bucket.Demand) []bucket.Demand {
	list := buffer[:0]
	// Quotas and caps are checked here first: each add is a call in the
	// VM, and most configurations have neither.
	addNamed := func(l *toolLimits, cost int64) {
		if l.quota != nil || l.perUserQuota != nil {
			list = addQuotaDemands(list, l.quota, l.perUserQuota, l.kind, l.userKind, l.name, user)
		}
		if l.concurrency != nil {
			list = addCapDemands(list, l.concurrency, l.kind, l.userKind, l.name, user)
		}
		if l.shared != nil {
			list = addBucketDemand(list, l.kind, l.name, "", l.shared, cost)
		}
		if user != "" && l.perUser != nil {
			list = addBucketDemand(list, l.userKind, l.name, user, l.perUser, cost)
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
			if s.quota != nil || s.perUserQuota != nil {
				list = addQuotaDemands(list, s.quota, s.perUserQuota, bucket.KindShared, bucket.KindUser, "", user)
			}
			if s.cfg.Concurrency != nil {
				list = addCapDemands(list, s.cfg.Concurrency, bucket.KindShared, bucket.KindUser, "", user)
			}
			if s.shared != nil {
				list = addBucketDemand(list, bucket.KindShared, "", "", s.shared, cost)
			}
			if user != "" && s.perUser != nil {
				list = addBucketDemand(list, bucket.KindUser, "", user, s.perUser, cost)
			}
		}
		if call.tool != nil {
			addNamed(call.tool, cost)
		}
	}
	return list
}
