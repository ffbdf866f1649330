package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// What each official MCP client hands to the calling code (the agent) when
// the filter rejects a call, and when the filter answers without an id.
// The TypeScript client runs in node (e2e/node/client-rejection.mjs); the
// Go client runs here. Both produce a clientReport, the test asserts every
// observation and renders the table of docs/clients.md from them.

const (
	// nodeDir holds the pinned TypeScript SDK (`make node-deps`).
	nodeDir = "node"
	// nodeScript is the TypeScript client's probe.
	nodeScript = "client-rejection.mjs"
	// typescriptSDKVersion is the version e2e/node/package.json pins.
	typescriptSDKVersion = "1.32.2"
	// limitedTool has one token; otherTool is not limited.
	limitedTool = demo.ToolEcho
	otherTool   = demo.ToolAdd
)

// errorCodes are the rate-limit codes in use: the default (ToolHive's
// original), ToolHive's current 429, and SEP-3304's proposed -32023.
var errorCodes = []int{defaultErrorCode, 429, -32023}

// clientReport is what one client did in the probes, in the JSON shape
// client-rejection.mjs prints.
type clientReport struct {
	Client          string       `json:"client"`
	SDKVersion      string       `json:"sdkVersion"`
	ProtocolVersion string       `json:"protocolVersion"`
	Admitted        probeResult  `json:"admitted"`
	Rejected        probeResult  `json:"rejected"`
	OtherToolAfter  probeResult  `json:"otherToolAfter"`
	ListAfter       probeResult  `json:"listAfter"`
	Notification    probeResult  `json:"notification"`
	NullID          probeResult  `json:"nullID"`
	Batch           probeResult  `json:"batch"`
	NotJSON         probeResult  `json:"notJSON"`
	OtherToolAtEnd  probeResult  `json:"otherToolAtEnd"`
	Schema          *schemaCheck `json:"schema"`
	Fatal           *errorSeen   `json:"fatal"`
	CloseError      *errorSeen   `json:"closeError"`
}

// probeResult is the outcome of one action as the calling code saw it,
// and the HTTP status of its POST on the wire.
type probeResult struct {
	OK               bool       `json:"ok"`
	ToolError        bool       `json:"toolError"`
	Error            *errorSeen `json:"error"`
	HTTPStatus       int        `json:"httpStatus"`
	RetryAfterHeader string     `json:"retryAfterHeader"`
	// AsyncErrors are errors the client reported outside the call
	// (TypeScript: Client.onerror).
	AsyncErrors []string `json:"asyncErrors"`
	// SessionAfter (Go, whose probes that may break a session run on a
	// session of their own) reports whether a further call succeeded.
	SessionAfter *bool `json:"sessionAfter,omitempty"`
}

// errorSeen is an error as the calling code can inspect it.
type errorSeen struct {
	Class   string          `json:"class"`
	Code    *int            `json:"code"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

// schemaCheck is the TypeScript SDK's own message schema on the two
// spellings of an error without a request id.
type schemaCheck struct {
	ErrorWithoutID  bool `json:"errorWithoutID"`
	ErrorWithNullID bool `json:"errorWithNullID"`
}

// rejectionView is one row of the table: what the agent learns from a
// rate-limit rejection.
type rejectionView struct {
	ErrorType  string
	HTTPStatus string
	Code       string
	Message    string
	RetryAfter string
	Session    string
}

// Cell values of the table.
const (
	visibleField  = "yes"
	visibleRaw    = "only as raw text in the message"
	visibleNone   = "no"
	statusSuccess = "200, a success"
	sessionOK     = "usable"
	sessionLost   = "broken"
)

// view classifies what a client handed over for the rejected call.
func view(r clientReport, status, code int) rejectionView {
	v := rejectionView{HTTPStatus: visibleNone, Code: visibleNone, Message: visibleNone, RetryAfter: visibleNone, Session: sessionLost}
	e := r.Rejected.Error
	if r.OtherToolAfter.OK && !r.OtherToolAfter.ToolError && r.ListAfter.OK {
		v.Session = sessionOK
	}
	if e == nil {
		v.ErrorType = "no error"
		return v
	}
	v.ErrorType = "`" + e.Class + "`"
	decoded := e.Class == "McpError" || e.Class == "*jsonrpc.Error"
	if decoded && e.Code != nil && *e.Code != code {
		v.ErrorType += fmt.Sprintf(" with code %d, not the filter's", *e.Code)
	}
	switch {
	case status == http.StatusOK:
		v.HTTPStatus = statusSuccess
	case e.Class == "StreamableHTTPError" && e.Code != nil && *e.Code == status:
		v.HTTPStatus = fmt.Sprintf("yes: `code` %d", status)
	case status != http.StatusOK && strings.Contains(e.Message, http.StatusText(status)):
		v.HTTPStatus = fmt.Sprintf("only as the text %q", http.StatusText(status))
	}
	switch {
	case decoded && e.Code != nil && *e.Code == code:
		v.Code = visibleField
	case strings.Contains(e.Message, fmt.Sprintf(`"code":%d`, code)):
		v.Code = visibleRaw
	}
	switch {
	case decoded && strings.Contains(e.Message, rateLimitMessage):
		v.Message = visibleField
	case strings.Contains(e.Message, `"message":"`+rateLimitMessage+`"`):
		v.Message = visibleRaw
	}
	var data struct {
		RetryAfterSeconds int `json:"retryAfterSeconds"`
	}
	switch {
	case decoded && json.Unmarshal(e.Data, &data) == nil && data.RetryAfterSeconds >= 1 &&
		strconv.Itoa(data.RetryAfterSeconds) == r.Rejected.RetryAfterHeader:
		v.RetryAfter = visibleField
	case strings.Contains(e.Message, `"retryAfterSeconds":`):
		v.RetryAfter = visibleRaw
	}
	return v
}

// wantViews is what each client shows for each rejectStatus, whatever the
// error code.
var wantViews = map[string]map[int]rejectionView{
	"go": {
		429: {ErrorType: "`*jsonrpc.Error` with code -32005, not the filter's", HTTPStatus: `only as the text "Too Many Requests"`, Code: visibleNone, Message: visibleNone, RetryAfter: visibleNone, Session: sessionOK},
		200: {ErrorType: "`*jsonrpc.Error`", HTTPStatus: statusSuccess, Code: visibleField, Message: visibleField, RetryAfter: visibleField, Session: sessionOK},
	},
	"typescript": {
		429: {ErrorType: "`StreamableHTTPError`", HTTPStatus: "yes: `code` 429", Code: visibleRaw, Message: visibleRaw, RetryAfter: visibleRaw, Session: sessionOK},
		200: {ErrorType: "`McpError`", HTTPStatus: statusSuccess, Code: visibleField, Message: visibleField, RetryAfter: visibleField, Session: sessionOK},
	},
}

// TestClientsSeeRejections runs the Go and the TypeScript MCP clients
// against the filter for rejectStatus 429 and 200 and each error code in
// use, asserts what each hands to the calling code, both for a rate-limit
// rejection and for replies without id (a notification rejected, "id":
// null, a batch, a body that is not JSON), and checks the table of
// docs/clients.md against the observations.
func TestClientsSeeRejections(t *testing.T) {
	node := requireNode(t)
	views := map[string]map[int]rejectionView{}
	versions := map[string]string{"go": goSDKVersion(t)}
	for _, status := range []int{http.StatusTooManyRequests, http.StatusOK} {
		for _, code := range errorCodes {
			t.Run(fmt.Sprintf("rejectStatus %d errorCode %d", status, code), func(t *testing.T) {
				plugin := fmt.Sprintf(`{"tools":[{"name":%q,"shared":{"maxTokens":1,"refillPeriod":"1h"}}],"rejectStatus":%d,"errorCode":%d}`,
					limitedTool, status, code)
				stacks := map[string]*stack{
					"go":         startStack(t, stackOptions{plugin: plugin}),
					"typescript": startStack(t, stackOptions{plugin: plugin}),
				}
				reports := map[string]clientReport{
					"go":         goProbes(t, stacks["go"]),
					"typescript": nodeProbes(t, node, stacks["typescript"]),
				}
				for client, r := range reports {
					// Only the first call ran: the rejected call, the
					// notification and the null-id call never reached the server.
					if got := stacks[client].demo.Calls(limitedTool); got != 1 {
						t.Errorf("%s: the server ran %s %d times, want 1", client, limitedTool, got)
					}
					if raw, err := json.Marshal(r); err == nil {
						t.Logf("%s client report: %s", client, raw)
					}
					if r.Fatal != nil {
						t.Fatalf("%s client failed outright: %+v", client, *r.Fatal)
					}
					if !r.Admitted.OK || r.Admitted.HTTPStatus != http.StatusOK {
						t.Errorf("%s: the first call was not admitted: %+v", client, r.Admitted)
					}
					if r.Rejected.HTTPStatus != status || r.Rejected.RetryAfterHeader == "" {
						t.Errorf("%s: the rejection had status %d, Retry-After %q on the wire; want %d and a Retry-After",
							client, r.Rejected.HTTPStatus, r.Rejected.RetryAfterHeader, status)
					}
					got := view(r, status, code)
					if want := wantViews[client][status]; got != want {
						t.Errorf("%s: the caller saw\n %+v\nwant\n %+v\nrejection: %+v", client, got, want, r.Rejected)
					}
					if views[client] == nil {
						views[client] = map[int]rejectionView{}
					}
					if previous, ok := views[client][status]; ok && previous != got {
						t.Errorf("%s: errorCode %d changes what the caller sees: %+v, with another code %+v", client, code, got, previous)
					}
					views[client][status] = got
					checkReplyWithoutID(t, client, status, r)
				}
				if r := reports["typescript"]; r.SDKVersion != typescriptSDKVersion {
					t.Errorf("node ran @modelcontextprotocol/sdk %s, want %s (run `make node-deps`)", r.SDKVersion, typescriptSDKVersion)
				}
				versions["typescript"] = reports["typescript"].SDKVersion
			})
		}
	}
	if t.Failed() {
		return
	}
	checkClientsDoc(t, clientsTable(views, versions))
}

// checkReplyWithoutID asserts what a client does with the filter's replies
// that have no id member: it neither crashes nor hangs, and the calling code
// gets an error or, for a notification, nothing.
func checkReplyWithoutID(t *testing.T, client string, status int, r clientReport) {
	t.Helper()
	// A tools/call sent as a notification is limited; its rejection has no
	// id. With 429 the client reports the status; with 200 it discards the
	// body of a reply to a notification, as it must.
	switch {
	case r.Notification.HTTPStatus != status:
		t.Errorf("%s: the rejected notification got status %d, want %d", client, r.Notification.HTTPStatus, status)
	case status == http.StatusOK && !r.Notification.OK:
		t.Errorf("%s: a notification answered 200 failed in the client: %+v", client, r.Notification.Error)
	case status != http.StatusOK && (r.Notification.OK || !statusReported(r.Notification.Error, status)):
		t.Errorf("%s: a notification answered %d: %+v, want an error naming the status", client, status, r.Notification)
	}
	// A tools/call sent with "id": null is rejected without id.
	if r.NullID.HTTPStatus != status {
		t.Errorf("%s: the null-id call got status %d, want %d", client, r.NullID.HTTPStatus, status)
	}
	// A batch and a body that is not JSON get 400 without id; every client
	// reports an error to the caller.
	for _, p := range []struct {
		what string
		got  probeResult
		code int
	}{{"batch", r.Batch, jsonrpc.CodeInvalidRequest}, {"body that is not JSON", r.NotJSON, jsonrpc.CodeParseError}} {
		if p.got.HTTPStatus != http.StatusBadRequest || p.got.OK || p.got.Error == nil {
			t.Errorf("%s: %s: %+v, want status 400 and an error for the caller", client, p.what, p.got)
			continue
		}
		if client == "typescript" && (p.got.Error.Class != "StreamableHTTPError" || p.got.Error.Code == nil || *p.got.Error.Code != 400 ||
			!strings.Contains(p.got.Error.Message, fmt.Sprintf(`"code":%d`, p.code)) || strings.Contains(p.got.Error.Message, `"id"`)) {
			t.Errorf("%s: %s: error %+v, want StreamableHTTPError 400 with the id-less JSON-RPC error %d as text", client, p.what, *p.got.Error, p.code)
		}
		if client == "go" && !strings.Contains(p.got.Error.Message, http.StatusText(http.StatusBadRequest)) {
			t.Errorf("%s: %s: error %q, want %q", client, p.what, p.got.Error.Message, http.StatusText(http.StatusBadRequest))
		}
	}
	switch client {
	case "typescript":
		if status == http.StatusOK && (!r.NullID.OK || !anyContains(r.NullID.AsyncErrors, "unknown message ID")) {
			t.Errorf("typescript: null id answered 200: %+v, want send to succeed and Client.onerror to report an unknown message ID", r.NullID)
		}
		if status != http.StatusOK && (r.NullID.Error == nil || r.NullID.Error.Class != "StreamableHTTPError") {
			t.Errorf("typescript: null id answered %d: %+v, want StreamableHTTPError", status, r.NullID)
		}
		if !r.OtherToolAtEnd.OK || r.OtherToolAtEnd.ToolError {
			t.Errorf("typescript: the session failed after the replies without id: %+v", r.OtherToolAtEnd)
		}
		if r.Schema == nil || !r.Schema.ErrorWithoutID || r.Schema.ErrorWithNullID {
			t.Errorf("typescript: message schema %+v, want an error without id accepted and one with id null refused", r.Schema)
		}
	case "go":
		if r.NullID.OK || r.NullID.Error == nil {
			t.Errorf("go: null id answered %d: %+v, want an error for the caller", status, r.NullID)
		}
		// 429 is transient for the Go client; a 400 or a 200 body it
		// cannot decode as a response to its call ends its connection.
		wantAfter := map[string]bool{"null id": status == http.StatusTooManyRequests, "batch": false, "not JSON": false}
		for what, p := range map[string]probeResult{"null id": r.NullID, "batch": r.Batch, "not JSON": r.NotJSON} {
			if p.SessionAfter == nil || *p.SessionAfter != wantAfter[what] {
				t.Errorf("go: %s: session usable afterwards = %v, want %v", what, p.SessionAfter, wantAfter[what])
			}
		}
	}
}

// statusReported reports whether an error tells the caller the HTTP
// status: as the TypeScript error's code, or as the status text.
func statusReported(e *errorSeen, status int) bool {
	return e != nil && (e.Class == "StreamableHTTPError" && e.Code != nil && *e.Code == status ||
		strings.Contains(e.Message, http.StatusText(status)))
}

func anyContains(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// requireNode returns the node binary, or fails the test with how to get
// node and the pinned SDK.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing (%v): the TypeScript client tests need Node.js 20 or later (Debian: apt-get install nodejs)", err)
	}
	manifest := filepath.Join(nodeDir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatalf("the TypeScript MCP SDK is not installed (%v): run `make node-deps` (npm ci --prefix e2e/node)", err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &pkg); err != nil || pkg.Version != typescriptSDKVersion {
		t.Fatalf("%s: version %q (%v), want %s: run `make node-deps`", manifest, pkg.Version, err, typescriptSDKVersion)
	}
	return node
}

// nodeProbes runs client-rejection.mjs against the stack.
func nodeProbes(t *testing.T, node string, s *stack) clientReport {
	t.Helper()
	tool := func(name string) map[string]any {
		return map[string]any{"name": name, "arguments": argsFor(name)}
	}
	var r clientReport
	runNodeScript(t, node, nodeScript, map[string]any{"endpoint": s.endpoint, "limited": tool(limitedTool), "other": tool(otherTool)}, &r)
	return r
}

// runNodeScript runs one of the node scripts with spec as its JSON
// argument and decodes the JSON object it prints into report.
func runNodeScript(t *testing.T, node, script string, spec, report any) {
	t.Helper()
	arg, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, string(arg))
	cmd.Dir = nodeDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(out, report); err != nil {
		t.Fatalf("node %s printed %q: %v\nstderr:\n%s", script, out, err, stderr.String())
	}
}

// wire is an http.RoundTripper that records the status and Retry-After of
// the last POST and can rewrite the body of the next POSTs.
type wire struct {
	base    http.RoundTripper
	mu      sync.Mutex
	status  int
	retry   string
	rewrite func([]byte) []byte
}

// RoundTrip implements http.RoundTripper.
func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost {
		return w.base.RoundTrip(r)
	}
	w.mu.Lock()
	rewrite := w.rewrite
	w.mu.Unlock()
	if rewrite != nil && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = rewrite(body)
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	resp, err := w.base.RoundTrip(r)
	if err == nil {
		w.mu.Lock()
		w.status, w.retry = resp.StatusCode, resp.Header.Get("Retry-After")
		w.mu.Unlock()
	}
	return resp, err
}

// setRewrite sets (or, with nil, clears) the body rewrite.
func (w *wire) setRewrite(f func([]byte) []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rewrite = f
}

// probe runs one action of the Go client and records what it returned.
func (w *wire) probe(action func(ctx context.Context) (*mcp.CallToolResult, error)) probeResult {
	w.mu.Lock()
	w.status, w.retry = 0, ""
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := action(ctx)
	w.mu.Lock()
	out := probeResult{OK: err == nil, HTTPStatus: w.status, RetryAfterHeader: w.retry}
	w.mu.Unlock()
	if res != nil {
		out.ToolError = res.IsError
	}
	if err != nil {
		out.Error = goError(err)
	}
	return out
}

// goError describes a Go SDK error as the calling code can inspect it:
// a *jsonrpc.Error when errors.As finds one, else only its text.
func goError(err error) *errorSeen {
	var wireErr *jsonrpc.Error
	if errors.As(err, &wireErr) {
		code := int(wireErr.Code)
		return &errorSeen{Class: "*jsonrpc.Error", Code: &code, Data: wireErr.Data, Message: err.Error()}
	}
	return &errorSeen{Class: "error", Message: err.Error()}
}

// goProbes runs the same probes as client-rejection.mjs with the Go SDK.
// Probes after which the Go client may drop its connection (a 400, a
// reply it cannot decode) run on sessions of their own.
func goProbes(t *testing.T, s *stack) clientReport {
	t.Helper()
	r := clientReport{Client: "go"}
	session := func() (*mcp.ClientSession, *wire) {
		w := &wire{base: s.transport}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		client := mcp.NewClient(&mcp.Implementation{Name: "e2e-go", Version: "v0"}, nil)
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.endpoint, HTTPClient: &http.Client{Transport: w}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatalf("connecting the Go client: %v", err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs, w
	}
	callTool := func(cs *mcp.ClientSession, tool string) func(context.Context) (*mcp.CallToolResult, error) {
		return func(ctx context.Context) (*mcp.CallToolResult, error) {
			return cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: argsFor(tool)})
		}
	}
	usable := func(cs *mcp.ClientSession) *bool {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: otherTool, Arguments: argsFor(otherTool)})
		ok := err == nil && !res.IsError
		return &ok
	}

	cs, w := session()
	r.ProtocolVersion = cs.InitializeResult().ProtocolVersion
	r.Admitted = w.probe(callTool(cs, limitedTool))
	r.Rejected = w.probe(callTool(cs, limitedTool))
	r.OtherToolAfter = w.probe(callTool(cs, otherTool))
	r.ListAfter = w.probe(func(ctx context.Context) (*mcp.CallToolResult, error) {
		_, err := cs.ListTools(ctx, nil)
		return nil, err
	})

	// A tools/call notification, written with the SDK's own connection.
	r.Notification = w.probe(func(ctx context.Context) (*mcp.CallToolResult, error) {
		conn, err := (&mcp.StreamableClientTransport{Endpoint: s.endpoint, HTTPClient: &http.Client{Transport: w}, MaxRetries: -1}).Connect(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		params := json.RawMessage(`{"name":"` + limitedTool + `","arguments":` + toolArgs[limitedTool] + `}`)
		return nil, conn.Write(ctx, &jsonrpc.Request{Method: "tools/call", Params: params})
	})

	// The SDK never sends "id": null, a batch or a body that is not JSON:
	// the wire rewrites its request.
	numericID := regexp.MustCompile(`"id":\d+`)
	rewrites := []struct {
		result  *probeResult
		tool    string
		rewrite func([]byte) []byte
	}{
		{&r.NullID, limitedTool, func(b []byte) []byte { return numericID.ReplaceAll(b, []byte(`"id":null`)) }},
		{&r.Batch, otherTool, func(b []byte) []byte { return append(append([]byte("["), b...), ']') }},
		{&r.NotJSON, otherTool, func([]byte) []byte { return []byte("this is not JSON") }},
	}
	for _, rw := range rewrites {
		cs, w := session()
		w.setRewrite(rw.rewrite)
		*rw.result = w.probe(callTool(cs, rw.tool))
		w.setRewrite(nil)
		rw.result.SessionAfter = usable(cs)
	}
	r.OtherToolAtEnd = w.probe(callTool(cs, otherTool))
	return r
}

var updateClientsDoc = flag.Bool("update", false, "rewrite the generated table of docs/clients.md")

const (
	// clientsDoc is the page the table belongs to.
	clientsDoc   = "../docs/clients.md"
	clientsBegin = "<!-- BEGIN clients: generated by `go test ./e2e -run TestClientsSeeRejections -update`, do not edit -->"
	clientsEnd   = "<!-- END clients -->"
)

// pythonRows are the Python SDK's rows, read from its source (it cannot
// be installed here): src/mcp/client/streamable_http.py,
// _handle_post_request, at v1.29.0 (98b7159) and v2.0.0 (6f69a37).
var pythonRows = []string{
	"| Python `mcp` 1.29.0 (from source) | 429 | no reply: `httpx.HTTPStatusError` from `raise_for_status()` is raised in the transport's task, the call waits | no | no | no | no | not reliable |",
	"| Python `mcp` 1.29.0 (from source) | 200 | `McpError` | 200, a success | yes | yes | yes | usable |",
	"| Python `mcp` 2.0.0 (from source) | 429 | `MCPError` (the JSON-RPC error of a JSON body at status >= 400) | no | yes | yes | yes | usable |",
	"| Python `mcp` 2.0.0 (from source) | 200 | `MCPError` | 200, a success | yes | yes | yes | usable |",
}

// clientsTable renders the observed views, then the Python rows, as the
// Markdown table of docs/clients.md.
func clientsTable(views map[string]map[int]rejectionView, versions map[string]string) string {
	var b strings.Builder
	b.WriteString("| Client | rejectStatus | The call fails with | HTTP status | JSON-RPC code | JSON-RPC message | `retryAfterSeconds` | Session afterwards |\n")
	b.WriteString("|--------|--------------|---------------------|-------------|---------------|------------------|---------------------|--------------------|\n")
	names := []struct{ key, name string }{
		{"go", "Go SDK " + versions["go"]},
		{"typescript", "TypeScript SDK " + versions["typescript"]},
	}
	for _, c := range names {
		for _, status := range []int{http.StatusTooManyRequests, http.StatusOK} {
			v := views[c.key][status]
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", c.name, status, v.ErrorType, v.HTTPStatus, v.Code, v.Message, v.RetryAfter, v.Session)
		}
	}
	for _, row := range pythonRows {
		b.WriteString(row + "\n")
	}
	return b.String()
}

// checkClientsDoc compares the generated block of docs/clients.md with
// the table, or rewrites it with -update.
func checkClientsDoc(t *testing.T, table string) {
	t.Helper()
	doc, err := os.ReadFile(clientsDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	begin, end := strings.Index(text, clientsBegin), strings.Index(text, clientsEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers %q and %q", clientsDoc, clientsBegin, clientsEnd)
	}
	want := clientsBegin + "\n" + table + clientsEnd
	if got := text[begin : end+len(clientsEnd)]; got == want {
		return
	} else if !*updateClientsDoc {
		t.Fatalf("the table of %s is out of date; run `go test ./e2e -run TestClientsSeeRejections -update`.\ngot:\n%s\nwant:\n%s", clientsDoc, got, want)
	}
	if err := os.WriteFile(clientsDoc, []byte(text[:begin]+want+text[end+len(clientsEnd):]), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote the table of %s", clientsDoc)
}

// goSDKVersion is the version of the MCP Go SDK the module requires
// (go.mod), which these tests are built with.
func goSDKVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "github.com/modelcontextprotocol/go-sdk" {
			return fields[1]
		}
	}
	t.Fatal("go.mod does not require github.com/modelcontextprotocol/go-sdk")
	return ""
}
