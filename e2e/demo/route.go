package demo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionIDHeader is the Streamable HTTP session header (MCP 2025-03-26 and
// later, basic/transports "Session Management").
const sessionIDHeader = "Mcp-Session-Id"

// route sends each request to the SDK handler that can serve it, so the
// demo speaks to every kind of client at one endpoint:
//
//   - GET and DELETE, and any POST carrying Mcp-Session-Id, belong to a
//     session: stateful.
//   - A POST without a session that holds an initialize request starts a
//     session (MCP up to 2025-11-25): stateful, so that the client can then
//     open its standalone GET stream.
//   - Any other POST without a session goes to the stateless handler. This
//     is how MCP 2026-07-28 clients talk (server/discover, no session; the
//     SDK's stateful handler refuses that version), and it lets a one-line
//     curl call a tool without an initialize handshake first.
func route(stateful, stateless http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get(sessionIDHeader) != "" {
			stateful.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mcp.DefaultMaxRequestBodyBytes))
		_ = r.Body.Close()
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if startsSession(body) {
			stateful.ServeHTTP(w, r)
			return
		}
		stateless.ServeHTTP(w, r)
	})
}

// startsSession reports whether a JSON-RPC body (a message or a batch)
// holds an initialize request. A body that does not decode does not: the
// handler it goes to answers the parse error.
func startsSession(body []byte) bool {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(trimmed, &batch) != nil {
			return false
		}
		for _, m := range batch {
			if isInitialize(m) {
				return true
			}
		}
		return false
	}
	return isInitialize(trimmed)
}

// isInitialize reports whether one JSON-RPC message is an initialize
// request. Member names are matched exactly, as the SDK decodes them
// (encoding/json's struct decoding would also accept "Method").
func isInitialize(msg []byte) bool {
	var members map[string]json.RawMessage
	if json.Unmarshal(msg, &members) != nil {
		return false
	}
	var method string
	return json.Unmarshal(members["method"], &method) == nil && method == "initialize"
}
