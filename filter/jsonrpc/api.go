// Package jsonrpc reads MCP JSON-RPC request bodies the way an MCP server
// will, and writes the error replies the filter sends.
//
// API CONTRACT (agreed between packages; the implementation may add to it
// but must not change these names or signatures without updating callers).
package jsonrpc

// JSON-RPC and MCP error codes the filter answers with.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeHeaderMismatch = -32020 // MCP 2026-07-28 (SEP-2243)
)

// MethodToolsCall is the only method the filter limits.
const MethodToolsCall = "tools/call"

// Request is what the filter needs from one JSON-RPC message.
type Request struct {
	Method string
	// ID is the raw JSON text of the "id" member, byte for byte, or nil when
	// the message has none (a notification).
	ID []byte
	// ToolName is params.name of a tools/call; HasToolName is false when it
	// is missing or not a string.
	ToolName    string
	HasToolName bool
	// Name is what an Mcp-Name header must mirror for this method
	// (params.name for tools/call and prompts/get, params.uri for
	// resources/read); HasName is false when there is none.
	Name    string
	HasName bool
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
// differently from the filter (CodeInvalidRequest).
func Read(body []byte) (Message, error) { panic("not implemented") }

// ErrorResponse encodes {"jsonrpc":"2.0","id":<id>,"error":{"code":..,"message":..,"data":<data>}}.
// The id member is omitted when id is nil; data is omitted when nil.
func ErrorResponse(id []byte, code int, message string, data []byte) []byte {
	panic("not implemented")
}

// RateLimitData encodes the error data {"retryAfterSeconds":N}.
func RateLimitData(retryAfterSeconds int64) []byte { panic("not implemented") }
