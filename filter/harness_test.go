package filter_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/filtertest"
)

// The behaviour tests are written once against a types.VMContext and run
// for every variant in vmVariants (vms_test.go): the Go VM context and the
// compiled module.

// testRootID is the plugin_root_id every test plugin runs under, unless a
// test sets another.
const testRootID = "rl"

// metricName is the full name of a plugin-wide counter of the test plugin.
func metricName(suffix string) string { return "mcp_ratelimit." + testRootID + "." + suffix }

// property is one host property of a test plugin. Unless a test gives
// plugin_root_id (an empty value: none), the plugin runs as testRootID.
type property struct {
	path  []string
	value string
}

// env is one host emulator with the filter started in it.
type env struct {
	t    testing.TB
	host proxytest.HostEmulator
}

// startFilter starts the filter with a plugin configuration and properties
// and fails the test if the plugin does not start.
func startFilter(t testing.TB, vm types.VMContext, configuration string, properties ...property) *env {
	t.Helper()
	e, ok := tryStartFilter(t, vm, configuration, properties...)
	if !ok {
		t.Fatalf("plugin start failed for %s; critical logs: %q", configuration, e.host.GetCriticalLogs())
	}
	return e
}

// tryStartFilter starts the filter and reports whether the plugin started.
func tryStartFilter(t testing.TB, vm types.VMContext, configuration string, properties ...property) (*env, bool) {
	t.Helper()
	options := proxytest.NewEmulatorOption().WithVMContext(vm)
	if configuration != "" {
		options = options.WithPluginConfiguration([]byte(configuration))
	}
	rootIDGiven := false
	for _, p := range properties {
		rootIDGiven = rootIDGiven || strings.Join(p.path, ".") == "plugin_root_id"
		// An empty value means "absent": the emulator cannot serve empty
		// properties.
		if p.value != "" {
			options = options.WithProperty(p.path, []byte(p.value))
		}
	}
	if !rootIDGiven {
		options = options.WithProperty([]string{"plugin_root_id"}, []byte(testRootID))
	}
	// Starting a filter ends the previous one, if a test still has it.
	host, release := filtertest.NewHostEmulator(options)
	t.Cleanup(release)
	e := &env{t: t, host: host}
	// Envoy starts the VM, then the plugin.
	if host.StartVM() != types.OnVMStartStatusOK {
		t.Fatalf("VM start failed")
	}
	return e, host.StartPlugin() == types.OnPluginStartStatusOK
}

// request is one HTTP request sent through the filter.
type request struct {
	method  string // default POST
	path    string // default /mcp
	headers [][2]string
	body    string
	// splits are the positions the body is cut at into chunks; none: one
	// chunk.
	splits []int
	// trailers, when set, end the request (the last body chunk then does
	// not carry end of stream).
	trailers [][2]string
}

// outcome is what the filter did with a request.
type outcome struct {
	contextID uint32
	// headersAction is the action returned at the request headers.
	headersAction types.Action
	// actions are the actions of every request callback, in order.
	actions []types.Action
	// reply is the local reply, nil when none was sent.
	reply *proxytest.LocalHttpResponse
}

// lastAction is the action of the last request callback.
func (o outcome) lastAction() types.Action { return o.actions[len(o.actions)-1] }

// forwarded reports whether the request went on to the upstream: no local
// reply and the last callback continued.
func (o outcome) forwarded() bool { return o.reply == nil && o.lastAction() == types.ActionContinue }

// send runs a request through the filter's request callbacks, stopping at a
// local reply.
func (e *env) send(r request) outcome {
	e.t.Helper()
	if r.method == "" {
		r.method = "POST"
	}
	if r.path == "" {
		r.path = "/mcp"
	}
	headers := [][2]string{{":method", r.method}, {":path", r.path}, {":authority", "mcp.example"}}
	if _, ok := header(r.headers, "content-type"); r.body != "" && !ok {
		headers = append(headers, [2]string{"content-type", "application/json"})
	}
	headers = append(headers, r.headers...)
	id := e.host.InitializeHttpContext()
	o := outcome{contextID: id}
	endAtHeaders := r.body == "" && r.trailers == nil
	o.headersAction = e.host.CallOnRequestHeaders(id, headers, endAtHeaders)
	o.actions = append(o.actions, o.headersAction)
	if o.reply = e.host.GetSentLocalResponse(id); o.reply != nil || endAtHeaders {
		return o
	}
	chunks := splitAt(r.body, r.splits)
	for i, chunk := range chunks {
		last := i == len(chunks)-1 && r.trailers == nil
		o.actions = append(o.actions, e.host.CallOnRequestBody(id, []byte(chunk), last))
		if o.reply = e.host.GetSentLocalResponse(id); o.reply != nil {
			return o
		}
	}
	if r.trailers != nil {
		o.actions = append(o.actions, e.host.CallOnRequestTrailers(id, r.trailers))
		o.reply = e.host.GetSentLocalResponse(id)
	}
	return o
}

// respond runs the upstream's response headers through the filter and
// returns the response headers the client gets, then ends the stream.
func (e *env) respond(o outcome) [][2]string {
	e.t.Helper()
	if action := e.host.CallOnResponseHeaders(o.contextID, [][2]string{{":status", "200"}}, false); action != types.ActionContinue {
		e.t.Errorf("response headers action = %v, want Continue", action)
	}
	headers := e.host.GetCurrentResponseHeaders(o.contextID)
	e.host.CompleteHttpContext(o.contextID)
	return headers
}

// splitAt cuts s at the given positions; without positions it is one chunk.
func splitAt(s string, positions []int) []string {
	var chunks []string
	start := 0
	for _, p := range positions {
		chunks = append(chunks, s[start:p])
		start = p
	}
	return append(chunks, s[start:])
}

// counter returns a counter's value, failing the test if it is undefined.
func (e *env) counter(name string) uint64 {
	e.t.Helper()
	value, err := e.host.GetCounterMetric(name)
	if err != nil {
		e.t.Fatalf("counter %s: %v", name, err)
	}
	return value
}

// toolsCall is a tools/call request body.
func toolsCall(id, tool string) string {
	if id == "" {
		return `{"jsonrpc":"2.0","method":"tools/call","params":{"name":` + strconv.Quote(tool) + `,"arguments":{}}}`
	}
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":` + strconv.Quote(tool) + `,"arguments":{}}}`
}

// rpc is a JSON-RPC request body with the given method and no params.
func rpc(id, method string) string {
	if id == "" {
		return `{"jsonrpc":"2.0","method":"` + method + `"}`
	}
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"` + method + `"}`
}

// rateLimitedBody is the exact JSON-RPC error body of a rejected request.
func rateLimitedBody(id string, code, retryAfter int) string {
	idMember := ""
	if id != "" {
		idMember = `"id":` + id + `,`
	}
	return `{"jsonrpc":"2.0",` + idMember + `"error":{"code":` + strconv.Itoa(code) +
		`,"message":"Rate limit exceeded","data":{"retryAfterSeconds":` + strconv.Itoa(retryAfter) + `}}}`
}

// header returns the value of a header in a header list, and whether it is
// there.
func header(headers [][2]string, name string) (string, bool) {
	for _, h := range headers {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

// expectForwarded fails the test unless the request went upstream.
func expectForwarded(t *testing.T, o outcome, what string) {
	t.Helper()
	if !o.forwarded() {
		t.Fatalf("%s: not forwarded: actions %v, reply %s", what, o.actions, describeReply(o.reply))
	}
}

// expectReply fails the test unless the filter replied with status and a
// body containing every fragment.
func expectReply(t *testing.T, o outcome, what string, status uint32, fragments ...string) {
	t.Helper()
	if o.reply == nil {
		t.Fatalf("%s: no local reply (actions %v), want %d", what, o.actions, status)
	}
	if o.reply.StatusCode != status {
		t.Fatalf("%s: reply %s, want status %d", what, describeReply(o.reply), status)
	}
	for _, fragment := range fragments {
		if !bytes.Contains(o.reply.Data, []byte(fragment)) {
			t.Fatalf("%s: reply body %s lacks %s", what, o.reply.Data, fragment)
		}
	}
	if o.lastAction() != types.ActionPause {
		t.Fatalf("%s: action after the local reply = %v, want Pause", what, o.lastAction())
	}
}

func describeReply(r *proxytest.LocalHttpResponse) string {
	if r == nil {
		return "none"
	}
	return strconv.Itoa(int(r.StatusCode)) + " " + string(r.Data) + " " + formatHeaders(r.Headers)
}

func formatHeaders(headers [][2]string) string {
	var b strings.Builder
	for _, h := range headers {
		b.WriteString(h[0] + ": " + h[1] + "; ")
	}
	return b.String()
}
