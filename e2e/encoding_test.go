package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
)

// The filter reads request bodies as UTF-8 JSON bytes. A server that
// decodes the body with the Content-Type charset or inflates a
// Content-Encoding first reads another text: the official TypeScript SDK's
// Express app (createMcpExpressApp, body-parser's express.json()) decodes
// any "utf-*" charset with iconv-lite, so with charset=utf-7 the body
// `"method":"+AHQ-ools/call"` is a tools/call to it and "+AHQ-ools/call" to
// a UTF-8 reader. These tests replay such requests against that server,
// first directly (it runs the tool: the request is a real call) and then
// through the filter, which must refuse them at the request headers with
// HTTP 415 and a JSON-RPC error.

// encodingCase is one request the filter must refuse with 415.
type encodingCase struct {
	name   string
	header [][2]string
	body   []byte
	// indirect: the Express app does not run the request itself (the
	// filter must still refuse it: another server may).
	indirect bool
}

// knownEncodingBypasses are the UTF-7 requests the Express app runs as
// tools/call of "t", and the compressed form of a plain call.
func knownEncodingBypasses() []encodingCase {
	method := `{"jsonrpc":"2.0","id":3,"method":"+AHQ-ools/call","params":{"name":"t"}}`
	name := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"+AHQ-"}}`
	member := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"+AG4-ame":"t"}}`
	imap := `{"jsonrpc":"2.0","id":3,"method":"&AHQ-ools/call","params":{"name":"t"}}`
	ct := func(v string) [][2]string { return [][2]string{{"Content-Type", v}} }
	return []encodingCase{
		{"charset=utf-7, method", ct("application/json; charset=utf-7"), []byte(method), false},
		{"charset=UTF-7, method", ct("application/json; charset=UTF-7"), []byte(method), false},
		{`charset="utf-7", method`, ct(`application/json; charset="utf-7"`), []byte(method), false},
		{"charset=utf-7-imap, method", ct("application/json; charset=utf-7-imap"), []byte(imap), false},
		{"charset=utf-7, tool name +AHQ-", ct("application/json; charset=utf-7"), []byte(name), false},
		{"charset=utf-7, member name +AG4-ame", ct("application/json; charset=utf-7"), []byte(member), false},
		// body-parser takes the first charset here; another parser may
		// take the last.
		{"charset=utf-7 after charset=utf-8", ct("application/json; charset=utf-8; charset=utf-7"), []byte(method), true},
		// Node keeps the first Content-Type for body-parser, but the SDK's
		// transport sees both joined and answers 415 itself.
		{"two content-types", [][2]string{{"Content-Type", "application/json; charset=utf-7"}, {"Content-Type", jsonType}}, []byte(method), true},
		{"gzip", [][2]string{{"Content-Type", jsonType}, {"Content-Encoding", "gzip"}}, compress("gzip", []byte(callBody("t"))), false},
		{"deflate", [][2]string{{"Content-Type", jsonType}, {"Content-Encoding", "deflate"}}, compress("deflate", []byte(callBody("t"))), false},
		{"br", [][2]string{{"Content-Type", jsonType}, {"Content-Encoding", "br"}}, compress("br", []byte(callBody("t"))), false},
	}
}

// postRaw sends a POST with exactly these headers (plus Accept) and returns
// the status, the Content-Type and the body of the reply.
func postRaw(t *testing.T, url string, header [][2]string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", acceptBoth)
	for _, h := range header {
		req.Header.Add(h[0], h[1])
	}
	resp, err := diffClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the reply from %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// TestEncodingBypassRefused replays the known charset and Content-Encoding
// bypasses: the Express app runs each as a call of "t" when it gets it
// directly; through the filter each is answered 415 and never arrives.
func TestEncodingBypassRefused(t *testing.T) {
	toolsJSON, err := json.Marshal(diffTools)
	if err != nil {
		t.Fatal(err)
	}
	expressAddr, _, runs := startNodeReaders(t, string(toolsJSON))
	h := startDiffHost(t, "ts-express", expressAddr)
	direct, filtered := "http://"+expressAddr+"/mcp", h.URL()+"/mcp"

	for _, c := range knownEncodingBypasses() {
		t.Run(c.name, func(t *testing.T) {
			before := runs(t, "express")["t"]
			status, _, reply := postRaw(t, direct, c.header, c.body)
			if c.indirect {
				before--
			}
			if got := runs(t, "express")["t"]; got != before+1 {
				t.Fatalf("sent directly, the Express app ran t %d times (HTTP %d, %s), want once: the request is no bypass",
					got-before, status, reply)
			}

			metrics0 := h.Metrics()
			status, contentType, reply := postRaw(t, filtered, c.header, c.body)
			if got := runs(t, "express")["t"]; got != before+1 {
				t.Errorf("through the filter the Express app ran t (HTTP %d, %s)", status, reply)
			}
			if status != http.StatusUnsupportedMediaType {
				t.Fatalf("through the filter: HTTP %d, want 415; body %s", status, reply)
			}
			if mediaType, _, err := mime.ParseMediaType(contentType); err != nil || mediaType != "application/json" {
				t.Errorf("content-type %q, want application/json", contentType)
			}
			var rpc map[string]json.RawMessage
			var rpcError struct {
				Code    *int   `json:"code"`
				Message string `json:"message"`
			}
			// The body is never read, so the reply has no id member.
			err := json.Unmarshal(reply, &rpc)
			_, hasID := rpc["id"]
			if err != nil || string(rpc["jsonrpc"]) != `"2.0"` || hasID ||
				json.Unmarshal(rpc["error"], &rpcError) != nil || rpcError.Code == nil || rpcError.Message == "" {
				t.Errorf("body %s, want a JSON-RPC error without id (%v)", reply, err)
			}
			moved := map[string]uint64{}
			for name, n := range h.Metrics() {
				if n != metrics0[name] {
					moved[strings.TrimPrefix(name, statName(""))] = n - metrics0[name]
				}
			}
			if len(moved) != 1 || moved[unsupportedEncodingCounter] != 1 {
				t.Errorf("filter counters moved %v, want only %s by 1", moved, unsupportedEncodingCounter)
			}
		})
	}
}

// unsupportedEncodingCounter counts requests refused with 415.
const unsupportedEncodingCounter = "requests.unsupported_encoding"
