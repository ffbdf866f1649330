package jsonrpc

import "unsafe"

// The package documentation, with the list of refused inputs, is in doc.go.

// JSON-RPC and MCP error codes the filter answers with.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeHeaderMismatch = -32020 // MCP 2026-07-28 (SEP-2243)
)

// MethodToolsCall is the method the top-level buckets limit.
const MethodToolsCall = "tools/call"

// Request is what the filter needs from one JSON-RPC message.
type Request struct {
	// Method is the decoded "method" member; it is "" when the message has
	// no "method" member (a JSON-RPC response sent by the client).
	Method string
	// ID is the raw JSON text of the "id" member, byte for byte, or nil when
	// the message has none (a notification). It is a copy (in the memory
	// lent to ReadInto, if any): it does not keep the request body alive.
	ID []byte
	// ToolName is params.name of a tools/call; HasToolName is false when it
	// is missing or not a string.
	ToolName    string
	HasToolName bool
	// Name is what an Mcp-Name header must mirror for this method
	// (params.name for tools/call and prompts/get, params.uri for
	// resources/read); HasName is false when there is none. Name and
	// ToolName are copies, in the memory lent to ReadInto if any.
	Name    string
	HasName bool
}

// IsToolsCall reports whether r calls a tool. Callers ask it of every
// request: unlike comparing Method with ==, it makes no function call in
// a Wasm VM (see sameText), and a Method Read interned is the constant
// itself, so its bytes need no comparing.
func (r *Request) IsToolsCall() bool {
	return len(r.Method) == len(MethodToolsCall) &&
		(unsafe.StringData(r.Method) == unsafe.StringData(MethodToolsCall) || sameText(r.Method, MethodToolsCall))
}

// Message is one request body: a single request, or a batch.
type Message struct {
	Batch    bool
	Requests []Request
}

// Error is a request the filter refuses, with the JSON-RPC code to answer.
type Error struct {
	Code    int
	Message string
	ID      []byte // raw id when it could be read, else nil
}

func (e *Error) Error() string { return e.Message }

// Read parses a request body. It returns *Error for a body the filter must
// refuse: not JSON (CodeParseError), or JSON that an MCP server might read
// differently from the filter (CodeInvalidRequest). The package
// documentation lists every refused input. Read keeps no reference to body.
func Read(body []byte) (Message, error) {
	return ReadInto(body, nil, nil, nil)
}

// ReadInto is Read in memory the caller lends: a single request's
// Message.Requests is appended to requests[:0], and the requests' ids and
// names (Request.ID, Name and ToolName, Error.ID) are copied into text[:0]
// (past its capacity into memory of their own). A caller that lends room
// for one request, its id and its name spares three allocations per body.
// What it lent is then the Message's: the caller must not write it, nor
// lend it again, while it uses the Message, and must copy a name it keeps
// beyond (the strings share that memory). A batch gets a list of its own.
// scratch is the working memory of the read (nil: memory of its own).
func ReadInto(body []byte, requests []Request, text []byte, scratch *Scratch) (Message, error) {
	if scratch == nil {
		scratch = new(Scratch)
	}
	text = text[:0]
	msg, err := read(body, requests[:0], &text, scratch)
	if scratch.outer.it.data != nil {
		// The full reader ran (readQuick keeps nothing there).
		scratch.forget()
	}
	if err != nil {
		// A nil *Error must not become a non-nil error interface.
		return Message{}, err
	}
	return msg, nil
}

// Scratch is the working memory of ReadInto: where it is in a body, the
// members it has seen and its stack of open arrays and objects. A caller
// that reads one body after another lends the same Scratch each time, and
// no read clears it first: each read sets what it reads before reading it.
// In a Wasm VM under wazero, clearing a few hundred bytes costs as much as
// half a dozen Go calls (memory.fill is a loop of copies there). The zero
// value is ready to use; one Scratch must not serve two reads at once.
type Scratch struct {
	request      requestWalk
	outer, inner objectWalk
	stack        containerStack
}

// forget drops what the last read left pointing into its body, so that
// a body the caller no longer holds can be collected (the filter collects
// a large one at once).
func (s *Scratch) forget() {
	s.outer.forget()
	s.inner.forget()
}

// ErrorResponse encodes {"jsonrpc":"2.0","id":<id>,"error":{"code":..,"message":..,"data":<data>}}.
//
// id and data are copied verbatim when they are one valid JSON value
// (outer whitespace is trimmed, whitespace inside an object or array is
// removed), so the result is always valid, compact JSON. The id member is
// omitted when id is nil, empty, JSON null or not one valid JSON value: pass
// nil to answer a request whose id could not be read. MCP types the id of
// an error response as optional and a request id as a string or a number
// (schema 2025-11-25), so MCP clients accept an error without id but not
// one with "id": null, which JSON-RPC 2.0 (section 5) would send instead.
// data is omitted when nil, empty or not valid JSON.
func ErrorResponse(id []byte, code int, message string, data []byte) []byte {
	return appendErrorResponse(nil, id, code, message, data)
}

// RateLimitData encodes the error data {"retryAfterSeconds":N}.
func RateLimitData(retryAfterSeconds int64) []byte {
	return appendRateLimitData(make([]byte, 0, len(`{"retryAfterSeconds":}`)+20), retryAfterSeconds)
}
