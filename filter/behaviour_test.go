package filter_test

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// Behaviour tests: written once against a types.VMContext, run natively and
// against the compiled module (forEachVM). The wall clock runs in both, so
// buckets refill by the minute or the hour and the expected waits are whole
// periods (a few milliseconds of test time round up to them).

const (
	oneShared  = `{"shared":{"maxTokens":1,"refillPeriod":"1m"}}`
	twoShared  = `{"shared":{"maxTokens":2,"refillPeriod":"1m"}}`
	manyShared = `{"shared":{"maxTokens":100000,"refillPeriod":"1h"}}`
)

func TestRequestsThatPassUntouched(t *testing.T) {
	cases := []struct {
		name     string
		request  request
		endAtHdr bool
	}{
		{name: "SSE GET", request: request{method: "GET", headers: [][2]string{{"accept", "text/event-stream"}}}},
		{name: "session DELETE", request: request{method: "DELETE", headers: [][2]string{{"mcp-session-id", "s1"}}}},
		{name: "health check", request: request{method: "GET", path: "/healthz"}},
		{name: "POST outside paths", request: request{path: "/upload", body: "not json at all"}},
		{name: "POST to a sibling prefix", request: request{path: "/mcpx", body: "not json"}},
		{name: "POST under another root", request: request{path: "/api/mcp", body: "not json"}},
		{name: "PUT with a body", request: request{method: "PUT", body: "not json"}},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), `{"shared":{"maxTokens":1,"refillPeriod":"1h"},"paths":["/mcp"]}`)
		for _, c := range cases {
			o := e.send(c.request)
			if o.headersAction != types.ActionContinue {
				t.Errorf("%s: headers action = %v, want Continue (no buffering)", c.name, o.headersAction)
			}
			for i, action := range o.actions {
				if action != types.ActionContinue {
					t.Errorf("%s: callback %d action = %v, want Continue", c.name, i, action)
				}
			}
			if o.reply != nil {
				t.Errorf("%s: unexpected local reply %s", c.name, describeReply(o.reply))
			}
		}
	})
}

func TestPathsAreMatchedAfterNormalising(t *testing.T) {
	cases := []struct {
		path      string
		inspected bool
	}{
		{"/mcp", true},
		{"/mcp/", true},
		{"/mcp?session=1", true},
		{"/mcp/messages", true},
		{"//mcp", true},
		{"/./mcp", true},
		{"/other/../mcp", true},
		{"/MCP", true},
		{"/%6Dcp", true},
		{"/mcp%2F", true},
		{"/mcp;jsessionid=1", true},
		{`\mcp`, true},
		{"http://mcp.example/mcp", true},
		{"/mcpx", false},
		{"/mc", false},
		{"/", false},
		{"/mcp/..", false},
		{"/static/mcp", false},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), `{"shared":{"maxTokens":1,"refillPeriod":"1h"},"paths":["/mcp"]}`)
		for _, c := range cases {
			o := e.send(request{path: c.path, body: "not json"})
			if inspected := o.reply != nil; inspected != c.inspected {
				t.Errorf("POST %q inspected = %t, want %t (reply %s)", c.path, inspected, c.inspected, describeReply(o.reply))
			}
		}
	})
}

func TestWithoutPathsEveryPostIsInspected(t *testing.T) {
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), oneShared)
		for _, path := range []string{"/", "/mcp", "/anything/else?q=1"} {
			expectReply(t, e.send(request{path: path, body: "{"}), "POST "+path, 400, `"code":-32700`)
		}
		expectForwarded(t, e.send(request{method: "GET", path: "/mcp"}), "GET")
	})
}

func TestOnlyToolsCallTakesTokens(t *testing.T) {
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), oneShared)
		expectForwarded(t, e.send(request{body: toolsCall("1", "echo")}), "first tools/call")
		expectReply(t, e.send(request{body: toolsCall("2", "echo")}), "second tools/call", 429)
		for _, body := range []string{
			`{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
			rpc("", "notifications/initialized"),
			rpc("4", "tools/list"),
			rpc("5", "ping"),
			`{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"demo://clock"}}`,
			`{"jsonrpc":"2.0","id":7,"method":"prompts/get","params":{"name":"summarize"}}`,
			`{"jsonrpc":"2.0","id":8,"result":{}}`,
		} {
			expectForwarded(t, e.send(request{body: body}), body)
		}
		if got := e.counter(metricName("tools_call.admitted")); got != 1 {
			t.Errorf("admitted = %d, want 1", got)
		}
		if got := e.counter(metricName("tools_call.rejected")); got != 1 {
			t.Errorf("rejected = %d, want 1", got)
		}
	})
}

func TestRejectionReply(t *testing.T) {
	cases := []struct {
		name       string
		config     string
		id         string // the request id, raw; "" for a notification
		noReplyID  bool   // the reply has no id member although the request has one
		wantStatus uint32
		wantCode   int
		wantWait   int
	}{
		{name: "default status and code", config: oneShared, id: "1", wantStatus: 429, wantCode: -32029, wantWait: 60},
		{name: "string id byte for byte", config: oneShared, id: `"req-\u00e9"`, wantStatus: 429, wantCode: -32029, wantWait: 60},
		{name: "number id byte for byte", config: oneShared, id: `1.50e0`, wantStatus: 429, wantCode: -32029, wantWait: 60},
		{name: "notification has no id", config: oneShared, id: "", wantStatus: 429, wantCode: -32029, wantWait: 60},
		{name: "null id is answered without id", config: oneShared, id: "null", noReplyID: true, wantStatus: 429, wantCode: -32029, wantWait: 60},
		{name: "null id is answered without id, status 200", config: `{"shared":{"maxTokens":1,"refillPeriod":"1m"},"rejectStatus":200}`,
			id: " null ", noReplyID: true, wantStatus: 200, wantCode: -32029, wantWait: 60},
		{name: "status 200", config: `{"shared":{"maxTokens":1,"refillPeriod":"1m"},"rejectStatus":200}`, id: "7",
			wantStatus: 200, wantCode: -32029, wantWait: 60},
		{name: "custom code", config: `{"shared":{"maxTokens":1,"refillPeriod":"1m"},"errorCode":-32050}`, id: "7",
			wantStatus: 429, wantCode: -32050, wantWait: 60},
		{name: "real wait of a fast bucket", config: `{"shared":{"maxTokens":4,"refillPeriod":"10s"}}`, id: "9",
			wantStatus: 429, wantCode: -32029, wantWait: 3},
		{name: "sub-second wait rounds up to 1", config: `{"shared":{"maxTokens":10,"refillPeriod":"1s"}}`, id: "9",
			wantStatus: 429, wantCode: -32029, wantWait: 1},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		vm := newVM()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := startFilter(t, vm, c.config)
				var last outcome
				for i := 0; i < 20; i++ {
					if last = e.send(request{body: toolsCall(c.id, "echo")}); last.reply != nil {
						break
					}
				}
				expectReply(t, last, c.name, c.wantStatus)
				replyID := c.id
				if c.noReplyID {
					replyID = ""
				}
				if got, want := string(last.reply.Data), rateLimitedBody(replyID, c.wantCode, c.wantWait); got != want {
					t.Errorf("body = %s, want %s", got, want)
				}
				if got, _ := header(last.reply.Headers, "content-type"); got != "application/json" {
					t.Errorf("content-type = %q, want application/json", got)
				}
				if got, _ := header(last.reply.Headers, "retry-after"); got != strconv.Itoa(c.wantWait) {
					t.Errorf("retry-after = %q, want %d", got, c.wantWait)
				}
			})
		}
	})
}

// step is one request of a scenario and whether it must be admitted.
type step struct {
	body       string
	headers    [][2]string
	properties []property // set on the host before the request
	admitted   bool
}

func TestBucketsThatApply(t *testing.T) {
	userA := [][2]string{{"x-user-id", "alice"}}
	userB := [][2]string{{"x-user-id", "bob"}}
	sourceAddress := func(address string) []property {
		return []property{{path: []string{"source", "address"}, value: address}}
	}
	peer := func(uri string) []property {
		return []property{{path: []string{"connection", "uri_san_peer_certificate"}, value: uri}}
	}
	cases := []struct {
		name   string
		config string
		steps  []step
	}{
		{
			name:   "per-tool buckets are independent",
			config: `{"tools":[{"name":"search","shared":{"maxTokens":1,"refillPeriod":"1h"}},{"name":"fetch","shared":{"maxTokens":1,"refillPeriod":"1h"}}]}`,
			steps: []step{
				{body: toolsCall("1", "search"), admitted: true},
				{body: toolsCall("2", "search")},
				{body: toolsCall("3", "fetch"), admitted: true},
				{body: toolsCall("4", "fetch")},
				{body: toolsCall("5", "echo"), admitted: true}, // no bucket applies
				{body: toolsCall("6", "echo"), admitted: true},
			},
		},
		{
			name:   "shared and per-tool are both required, and a rejection takes nothing",
			config: `{"shared":{"maxTokens":2,"refillPeriod":"1h"},"tools":[{"name":"search","shared":{"maxTokens":1,"refillPeriod":"1h"}}]}`,
			steps: []step{
				{body: toolsCall("1", "search"), admitted: true},
				{body: toolsCall("2", "search")},               // tool bucket empty; shared keeps its token
				{body: toolsCall("3", "echo"), admitted: true}, // the shared token the rejection did not take
				{body: toolsCall("4", "echo")},                 // shared empty
			},
		},
		{
			name:   "per-user by header",
			config: `{"perUser":{"maxTokens":1,"refillPeriod":"1h"},"userIdentity":{"from":"header","header":"x-user-id"}}`,
			steps: []step{
				{body: toolsCall("1", "echo"), headers: userA, admitted: true},
				{body: toolsCall("2", "echo"), headers: userA},
				{body: toolsCall("3", "echo"), headers: userB, admitted: true},
				{body: toolsCall("4", "echo"), headers: userB},
				{body: toolsCall("5", "echo"), admitted: true}, // no identity: shared buckets only, none here
				{body: toolsCall("6", "echo"), admitted: true},
			},
		},
		{
			name: "per user per tool",
			config: `{"tools":[{"name":"search","perUser":{"maxTokens":1,"refillPeriod":"1h"}}],` +
				`"userIdentity":{"from":"header","header":"x-user-id"}}`,
			steps: []step{
				{body: toolsCall("1", "search"), headers: userA, admitted: true},
				{body: toolsCall("2", "search"), headers: userA},
				{body: toolsCall("3", "fetch"), headers: userA, admitted: true},
				{body: toolsCall("4", "search"), headers: userB, admitted: true},
			},
		},
		{
			name: "a user's limit does not spend the shared bucket",
			config: `{"shared":{"maxTokens":2,"refillPeriod":"1h"},"perUser":{"maxTokens":1,"refillPeriod":"1h"},` +
				`"userIdentity":{"from":"header","header":"x-user-id"}}`,
			steps: []step{
				{body: toolsCall("1", "echo"), headers: userA, admitted: true},
				{body: toolsCall("2", "echo"), headers: userA},
				{body: toolsCall("3", "echo"), headers: userA},
				{body: toolsCall("4", "echo"), headers: userB, admitted: true},
				{body: toolsCall("5", "echo"), admitted: false}, // shared empty now
			},
		},
		{
			name:   "per-user by source address, any port, IPv6 too",
			config: `{"perUser":{"maxTokens":1,"refillPeriod":"1h"},"userIdentity":{"from":"sourceAddress"}}`,
			steps: []step{
				{body: toolsCall("1", "echo"), properties: sourceAddress("10.0.0.1:40000"), admitted: true},
				{body: toolsCall("2", "echo"), properties: sourceAddress("10.0.0.1:40001")},
				{body: toolsCall("3", "echo"), properties: sourceAddress("[::ffff:10.0.0.1]:40002")},
				{body: toolsCall("4", "echo"), properties: sourceAddress("10.0.0.2:40000"), admitted: true},
				{body: toolsCall("5", "echo"), properties: sourceAddress("[2001:db8::1]:443"), admitted: true},
				{body: toolsCall("6", "echo"), properties: sourceAddress("[2001:0db8:0::1]:444")},
			},
		},
		{
			name:   "per-user by peer principal",
			config: `{"perUser":{"maxTokens":1,"refillPeriod":"1h"},"userIdentity":{"from":"peerPrincipal"}}`,
			steps: []step{
				{body: toolsCall("1", "echo"), properties: peer("spiffe://cluster.local/ns/a/sa/agent"), admitted: true},
				{body: toolsCall("2", "echo"), properties: peer("spiffe://cluster.local/ns/a/sa/agent")},
				{body: toolsCall("3", "echo"), properties: peer("spiffe://cluster.local/ns/b/sa/agent"), admitted: true},
			},
		},
		{
			name: "a tools/call without a string name counts against the shared and the user's bucket",
			config: `{"shared":{"maxTokens":2,"refillPeriod":"1h"},"perUser":{"maxTokens":1,"refillPeriod":"1h"},` +
				`"userIdentity":{"from":"header","header":"x-user-id"}}`,
			steps: []step{
				{body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}`, admitted: true},
				{body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":7}}`, headers: userA, admitted: true},
				{body: `{"jsonrpc":"2.0","id":3,"method":"tools/call"}`, headers: userB},
			},
		},
		{
			name:   "a tool name the configuration does not list uses the shared bucket only",
			config: `{"shared":{"maxTokens":2,"refillPeriod":"1h"},"tools":[{"name":"search","shared":{"maxTokens":5,"refillPeriod":"1h"}}]}`,
			steps: []step{
				{body: toolsCall("1", "Search"), admitted: true},
				{body: toolsCall("2", "search "), admitted: true},
				{body: toolsCall("3", "search")},
			},
		},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		vm := newVM()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := startFilter(t, vm, c.config)
				for i, s := range c.steps {
					for _, p := range s.properties {
						if err := e.host.SetProperty(p.path, []byte(p.value)); err != nil {
							t.Fatalf("set property %v: %v", p.path, err)
						}
					}
					o := e.send(request{body: s.body, headers: s.headers})
					if s.admitted {
						expectForwarded(t, o, "step "+strconv.Itoa(i+1))
					} else {
						expectReply(t, o, "step "+strconv.Itoa(i+1), 429, `"code":-32029`)
					}
				}
			})
		}
	})
}

func TestInvalidBodies(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		wantCode string
		wantID   string // the reply's id member; "" for none
	}{
		{name: "not JSON", body: "hello", wantCode: "-32700"},
		{name: "truncated", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call"`, wantCode: "-32700"},
		{name: "empty POST", body: "", wantCode: "-32700"},
		{name: "duplicate method member", body: `{"jsonrpc":"2.0","id":4,"method":"tools/list","method":"tools/call","params":{"name":"x"}}`,
			wantCode: "-32600", wantID: `"id":4`},
		{name: "duplicate method member, null id", body: `{"jsonrpc":"2.0","id":null,"method":"tools/list","method":"tools/call","params":{"name":"x"}}`,
			wantCode: "-32600"},
		{name: "batch with batch reject", body: "[" + toolsCall("1", "echo") + "]", wantCode: "-32600"},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), manyShared)
		for _, c := range cases {
			o := e.send(request{body: c.body})
			fragments := []string{`"code":` + c.wantCode}
			if c.wantID != "" {
				fragments = append(fragments, c.wantID)
			}
			expectReply(t, o, c.name, 400, fragments...)
			if c.wantID == "" && bytes.Contains(o.reply.Data, []byte(`"id"`)) {
				t.Errorf("%s: reply %s has an id member, want none", c.name, o.reply.Data)
			}
			if got, _ := header(o.reply.Headers, "content-type"); got != "application/json" {
				t.Errorf("%s: content-type = %q", c.name, got)
			}
		}
		if got := e.counter(metricName("requests.invalid")); got != uint64(len(cases)) {
			t.Errorf("invalid counter = %d, want %d", got, len(cases))
		}
		if got := e.counter(metricName("tools_call.admitted")); got != 0 {
			t.Errorf("admitted = %d, want 0", got)
		}
	})
}

func TestMirroredHeadersMustMatchTheBody(t *testing.T) {
	sentinel := func(s string) string { return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }
	cases := []struct {
		name     string
		headers  [][2]string
		body     string
		mismatch bool
	}{
		{name: "both match", headers: [][2]string{{"Mcp-Method", "tools/call"}, {"Mcp-Name", "search"}}, body: toolsCall("1", "search")},
		{name: "method only", headers: [][2]string{{"mcp-method", "tools/call"}}, body: toolsCall("1", "search")},
		{name: "no headers", body: toolsCall("1", "search")},
		{name: "base64 name", headers: [][2]string{{"mcp-name", sentinel("search")}}, body: toolsCall("1", "search")},
		{name: "base64 non-ASCII name", headers: [][2]string{{"mcp-name", sentinel("café")}}, body: toolsCall("1", "café")},
		{name: "resource uri", headers: [][2]string{{"mcp-method", "resources/read"}, {"mcp-name", "demo://clock"}},
			body: `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"demo://clock"}}`},
		{name: "method differs", headers: [][2]string{{"mcp-method", "tools/list"}}, body: toolsCall("5", "search"), mismatch: true},
		{name: "name differs", headers: [][2]string{{"mcp-method", "tools/call"}, {"mcp-name", "fetch"}}, body: toolsCall("5", "search"), mismatch: true},
		{name: "name header without a body name", headers: [][2]string{{"mcp-name", "search"}}, body: rpc("5", "tools/list"), mismatch: true},
		{name: "bad base64", headers: [][2]string{{"mcp-name", "=?base64?%%%?="}}, body: toolsCall("5", "search"), mismatch: true},
		{name: "base64 of another name", headers: [][2]string{{"mcp-name", sentinel("fetch")}}, body: toolsCall("5", "search"), mismatch: true},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), manyShared)
		mismatches := 0
		for _, c := range cases {
			o := e.send(request{body: c.body, headers: c.headers})
			if c.mismatch {
				mismatches++
				expectReply(t, o, c.name, 400, `"code":-32020`, `"id":5`)
			} else {
				expectForwarded(t, o, c.name)
			}
		}
		if got := e.counter(metricName("requests.header_mismatch")); got != uint64(mismatches) {
			t.Errorf("header_mismatch = %d, want %d", got, mismatches)
		}
	})
}

// paddedToolsCall is a tools/call body of exactly size bytes.
func paddedToolsCall(size int) string {
	prefix := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"`
	suffix := `"}}}`
	return prefix + strings.Repeat("x", size-len(prefix)-len(suffix)) + suffix
}

func TestBodySizeLimit(t *testing.T) {
	const limit = 256
	config := `{"shared":{"maxTokens":100,"refillPeriod":"1h"},"maxRequestBodyBytes":256}`
	atLimit, overLimit := paddedToolsCall(limit), paddedToolsCall(limit+1)
	cases := []struct {
		name     string
		request  request
		tooLarge bool
	}{
		{name: "at the limit", request: request{body: atLimit}},
		{name: "at the limit in chunks", request: request{body: atLimit, splits: []int{1, 100, 255}}},
		{name: "one byte over", request: request{body: overLimit}, tooLarge: true},
		{name: "one byte over in chunks", request: request{body: overLimit, splits: []int{10, 200}}, tooLarge: true},
		{name: "one byte over, last chunk one byte", request: request{body: overLimit, splits: []int{limit}}, tooLarge: true},
		{name: "over, ended by trailers", request: request{body: overLimit, trailers: [][2]string{{"x-t", "1"}}}, tooLarge: true},
		{name: "declared too large", request: request{body: atLimit, headers: [][2]string{{"content-length", "1048576"}}}, tooLarge: true},
		{name: "declared small, sent large", request: request{body: overLimit, headers: [][2]string{{"content-length", "10"}}}, tooLarge: true},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), config)
		oversized := 0
		for _, c := range cases {
			o := e.send(c.request)
			if !c.tooLarge {
				expectForwarded(t, o, c.name)
				continue
			}
			oversized++
			expectReply(t, o, c.name, 413, `"code":-32600`)
			if bytes.Contains(o.reply.Data, []byte(`"id"`)) {
				t.Errorf("%s: reply %s has an id member, want none", c.name, o.reply.Data)
			}
		}
		declared := e.send(request{body: atLimit, headers: [][2]string{{"content-length", "257"}}})
		if declared.reply == nil || len(declared.actions) != 1 {
			t.Errorf("a declared oversized body must be answered at the headers; actions %v", declared.actions)
		}
		oversized++
		if got := e.counter(metricName("requests.oversized")); got != uint64(oversized) {
			t.Errorf("oversized = %d, want %d", got, oversized)
		}
	})
}

func TestBodyIsHeldUntilTheEndOfTheStream(t *testing.T) {
	body := toolsCall("1", "echo")
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), manyShared)
		o := e.send(request{body: body, splits: []int{5, 20}})
		want := []types.Action{types.ActionPause, types.ActionPause, types.ActionPause, types.ActionContinue}
		if len(o.actions) != len(want) {
			t.Fatalf("actions = %v, want %v", o.actions, want)
		}
		for i := range want {
			if o.actions[i] != want[i] {
				t.Fatalf("actions = %v, want %v (headers and every chunk but the last held)", o.actions, want)
			}
		}
		withTrailers := e.send(request{body: body, splits: []int{7}, trailers: [][2]string{{"grpc-status", "0"}}})
		want = []types.Action{types.ActionPause, types.ActionPause, types.ActionPause, types.ActionContinue}
		for i := range want {
			if withTrailers.actions[i] != want[i] {
				t.Fatalf("with trailers: actions = %v, want %v (decided at the trailers)", withTrailers.actions, want)
			}
		}
	})
}

func TestChunkingDoesNotChangeTheDecision(t *testing.T) {
	body := toolsCall(`"call-1"`, "search")
	invalid := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search"},}`
	everySplit := func(s string) [][]int {
		splits := [][]int{nil}
		for i := 1; i < len(s); i++ {
			splits = append(splits, []int{i})
		}
		bytewise := []int{}
		for i := 1; i < len(s); i++ {
			bytewise = append(bytewise, i)
		}
		return append(splits, bytewise)
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		vm := newVM()
		t.Run("admitted", func(t *testing.T) {
			e := startFilter(t, vm, manyShared)
			for _, splits := range everySplit(body) {
				expectForwarded(t, e.send(request{body: body, splits: splits}), "split "+strconv.Itoa(len(splits)))
				expectForwarded(t, e.send(request{body: body, splits: splits, trailers: [][2]string{{"x", "y"}}}),
					"split with trailers")
			}
			if got, want := e.counter(metricName("tools_call.admitted")), uint64(2*len(everySplit(body))); got != want {
				t.Errorf("admitted = %d, want %d", got, want)
			}
		})
		t.Run("rejected", func(t *testing.T) {
			e := startFilter(t, vm, `{"shared":{"maxTokens":1,"refillPeriod":"1h"}}`)
			expectForwarded(t, e.send(request{body: body}), "first call")
			want := rateLimitedBody(`"call-1"`, -32029, 3600)
			for _, splits := range everySplit(body) {
				o := e.send(request{body: body, splits: splits})
				expectReply(t, o, "split", 429)
				if string(o.reply.Data) != want {
					t.Fatalf("splits %v: body %s, want %s", splits, o.reply.Data, want)
				}
			}
		})
		t.Run("invalid", func(t *testing.T) {
			e := startFilter(t, vm, manyShared)
			for _, splits := range everySplit(invalid) {
				expectReply(t, e.send(request{body: invalid, splits: splits}), "split", 400)
			}
		})
	})
}

func TestRateLimitHeaders(t *testing.T) {
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		vm := newVM()
		t.Run("shared bucket", func(t *testing.T) {
			e := startFilter(t, vm, `{"shared":{"maxTokens":2,"refillPeriod":"1m"},"rateLimitHeaders":true}`)
			expectFields := func(headers [][2]string, policy, limit string) {
				t.Helper()
				if got, _ := header(headers, "ratelimit-policy"); got != policy {
					t.Errorf("RateLimit-Policy = %q, want %q", got, policy)
				}
				if got, _ := header(headers, "ratelimit"); got != limit {
					t.Errorf("RateLimit = %q, want %q", got, limit)
				}
			}
			first := e.send(request{body: toolsCall("1", "echo")})
			expectForwarded(t, first, "first")
			expectFields(e.respond(first), `"shared";q=2;w=60`, `"shared";r=1;t=30`)
			second := e.send(request{body: toolsCall("2", "echo")})
			expectForwarded(t, second, "second")
			expectFields(e.respond(second), `"shared";q=2;w=60`, `"shared";r=0;t=60`)
			third := e.send(request{body: toolsCall("3", "echo")})
			expectReply(t, third, "third", 429)
			expectFields(third.reply.Headers, `"shared";q=2;w=60`, `"shared";r=0;t=30`)
			list := e.send(request{body: rpc("4", "tools/list")})
			expectForwarded(t, list, "tools/list")
			if _, ok := header(e.respond(list), "ratelimit"); ok {
				t.Errorf("a tools/list response got RateLimit fields")
			}
		})
		t.Run("tightest bucket", func(t *testing.T) {
			e := startFilter(t, vm, `{"shared":{"maxTokens":50,"refillPeriod":"1m"},"rateLimitHeaders":true,`+
				`"tools":[{"name":"search","shared":{"maxTokens":3,"refillPeriod":"90s"}}]}`)
			o := e.send(request{body: toolsCall("1", "search")})
			expectForwarded(t, o, "search")
			headers := e.respond(o)
			if got, _ := header(headers, "ratelimit-policy"); got != `"tool";q=3;w=90` {
				t.Errorf("RateLimit-Policy = %q, want the tool bucket", got)
			}
			if got, _ := header(headers, "ratelimit"); got != `"tool";r=2;t=30` {
				t.Errorf("RateLimit = %q", got)
			}
		})
		t.Run("off by default", func(t *testing.T) {
			e := startFilter(t, vm, oneShared)
			o := e.send(request{body: toolsCall("1", "echo")})
			expectForwarded(t, o, "admitted")
			if _, ok := header(e.respond(o), "ratelimit-policy"); ok {
				t.Errorf("RateLimit-Policy sent without rateLimitHeaders")
			}
			rejected := e.send(request{body: toolsCall("2", "echo")})
			expectReply(t, rejected, "rejected", 429)
			if _, ok := header(rejected.reply.Headers, "ratelimit"); ok {
				t.Errorf("RateLimit sent without rateLimitHeaders")
			}
		})
	})
}

func TestDryRunNeverRejects(t *testing.T) {
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), `{"shared":{"maxTokens":1,"refillPeriod":"1h"},"dryRun":true}`)
		for i := 1; i <= 4; i++ {
			expectForwarded(t, e.send(request{body: toolsCall(strconv.Itoa(i), "echo")}), "call "+strconv.Itoa(i))
		}
		for name, want := range map[string]uint64{
			"tools_call.admitted": 1, "tools_call.dry_run_rejected": 3, "tools_call.rejected": 0,
		} {
			if got := e.counter(metricName(name)); got != want {
				t.Errorf("%s = %d, want %d", name, got, want)
			}
		}
		logged := 0
		for _, line := range e.host.GetInfoLogs() {
			if strings.Contains(line, "dry run") {
				logged++
			}
		}
		if logged != 3 {
			t.Errorf("dry-run info lines = %d, want 3: %q", logged, e.host.GetInfoLogs())
		}
	})
}

func TestBatchLimit(t *testing.T) {
	batch := func(elements ...string) string { return "[" + strings.Join(elements, ",") + "]" }
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), `{"shared":{"maxTokens":3,"refillPeriod":"1h"},"batch":"limit"}`)
		expectForwarded(t, e.send(request{body: batch(toolsCall("1", "a"), rpc("2", "tools/list"), toolsCall("3", "b"))}),
			"batch needing 2 of 3 tokens")
		rejected := e.send(request{body: batch(toolsCall("4", "a"), rpc("5", "ping"), toolsCall("6", "b"))})
		expectReply(t, rejected, "batch needing 2 of 1 token", 429)
		wantArray := "[" + rateLimitedBody("4", -32029, 1200) + "," + rateLimitedBody("5", -32029, 1200) + "," +
			rateLimitedBody("6", -32029, 1200) + "]"
		if string(rejected.reply.Data) != wantArray {
			t.Errorf("batch reply = %s, want %s", rejected.reply.Data, wantArray)
		}
		expectForwarded(t, e.send(request{body: toolsCall("7", "a")}), "the token the rejected batch left")
		notifications := e.send(request{body: batch(toolsCall("", "a"), toolsCall("", "b"))})
		expectReply(t, notifications, "batch of notifications", 429)
		if len(notifications.reply.Data) != 0 {
			t.Errorf("a rejected batch of notifications got body %s, want none", notifications.reply.Data)
		}
		if got, _ := header(notifications.reply.Headers, "retry-after"); got == "" {
			t.Errorf("a rejected batch of notifications has no retry-after")
		}
		mixed := e.send(request{body: batch(toolsCall("", "a"), toolsCall(`"x"`, "b"), `{"jsonrpc":"2.0","id":99,"result":{}}`)})
		expectReply(t, mixed, "batch with one id", 429)
		if want := "[" + rateLimitedBody(`"x"`, -32029, 2400) + "]"; string(mixed.reply.Data) != want {
			t.Errorf("reply = %s, want %s", mixed.reply.Data, want)
		}
		nullID := e.send(request{body: batch(toolsCall("null", "a"), toolsCall("3", "b"))})
		expectReply(t, nullID, "batch with a null id", 429)
		if want := "[" + rateLimitedBody("", -32029, 2400) + "," + rateLimitedBody("3", -32029, 2400) + "]"; string(nullID.reply.Data) != want {
			t.Errorf("reply = %s, want %s", nullID.reply.Data, want)
		}
		expectForwarded(t, e.send(request{body: batch(rpc("8", "tools/list"), rpc("", "notifications/initialized"))}),
			"batch without tools/call")
		if got := e.counter(metricName("tools_call.rejected")); got != 8 {
			t.Errorf("rejected calls = %d, want 8", got)
		}
	})
}

func TestMetrics(t *testing.T) {
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), `{"shared":{"maxTokens":2,"refillPeriod":"1h"},`+
			`"tools":[{"name":"web.search","shared":{"maxTokens":1,"refillPeriod":"1h"}},{"name":"fetch","shared":{"maxTokens":9,"refillPeriod":"1h"}}]}`,
			property{path: []string{"plugin_root_id"}, value: "mcp.limits"})
		name := func(suffix string) string { return "mcp_ratelimit.mcp_limits." + suffix }
		for _, suffix := range []string{"tools_call.admitted", "tools_call.rejected", "tools_call.rejected_shared",
			"tools_call.rejected_tool", "tools_call.rejected_user", "tools_call.rejected_user_tool",
			"tools_call.rejected_contended", "tools_call.dry_run_rejected", "requests.invalid",
			"requests.oversized", "requests.header_mismatch", "users.table_overflow", "store.errors",
			"tool.web_search.admitted", "tool.web_search.rejected", "tool.fetch.admitted", "tool.fetch.rejected"} {
			if got := e.counter(name(suffix)); got != 0 {
				t.Errorf("%s = %d at start", suffix, got)
			}
		}
		expectForwarded(t, e.send(request{body: toolsCall("1", "web.search")}), "search")
		expectReply(t, e.send(request{body: toolsCall("2", "web.search")}), "search again", 429)
		expectForwarded(t, e.send(request{body: toolsCall("3", "random-tool-name")}), "unconfigured tool")
		expectReply(t, e.send(request{body: toolsCall("4", "fetch")}), "fetch with shared empty", 429)
		for suffix, want := range map[string]uint64{
			"tools_call.admitted": 2, "tools_call.rejected": 2, "tools_call.rejected_tool": 1,
			"tools_call.rejected_shared": 1, "tool.web_search.admitted": 1, "tool.web_search.rejected": 1,
			"tool.fetch.rejected": 1, "tool.fetch.admitted": 0,
		} {
			if got := e.counter(name(suffix)); got != want {
				t.Errorf("%s = %d, want %d", suffix, got, want)
			}
		}
		if _, err := e.host.GetCounterMetric(name("tool.random-tool-name.admitted")); err == nil {
			t.Errorf("a counter was defined for a tool the configuration does not list")
		}
	})
}

func TestNamespaceFallsBackToThePluginName(t *testing.T) {
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		vm := newVM()
		e := startFilter(t, vm, oneShared, property{path: []string{"plugin_root_id"}, value: ""},
			property{path: []string{"plugin_name"}, value: "team-a.mcp-ratelimit"})
		if _, err := e.host.GetCounterMetric("mcp_ratelimit.team-a_mcp-ratelimit.tools_call.admitted"); err != nil {
			t.Errorf("counter under the plugin name: %v", err)
		}
		bare := startFilter(t, vm, oneShared, property{path: []string{"plugin_root_id"}, value: ""})
		if _, err := bare.host.GetCounterMetric("mcp_ratelimit.default.tools_call.admitted"); err != nil {
			t.Errorf("counter under the default namespace: %v", err)
		}
	})
}

func TestInvalidConfigurationIsRefused(t *testing.T) {
	cases := []struct {
		name   string
		config string
		// mentions are fragments the single log line must contain.
		mentions []string
	}{
		{name: "missing", config: "", mentions: []string{"invalid plugin configuration"}},
		{name: "not JSON", config: "shared: 1", mentions: []string{"invalid plugin configuration"}},
		{name: "no bucket", config: `{"paths":["/mcp"]}`, mentions: []string{"invalid plugin configuration"}},
		{name: "zero tokens", config: `{"shared":{"maxTokens":0,"refillPeriod":"1m"}}`, mentions: []string{"maxTokens", "0"}},
		{name: "bad period", config: `{"shared":{"maxTokens":1,"refillPeriod":"soon"}}`, mentions: []string{"refillPeriod", "soon"}},
		{name: "unknown field", config: `{"shared":{"maxTokens":1,"refillPeriod":"1m"},"dryrun":true}`, mentions: []string{"dryrun"}},
		{name: "bad reject status", config: `{"shared":{"maxTokens":1,"refillPeriod":"1m"},"rejectStatus":503}`, mentions: []string{"rejectStatus", "503"}},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		vm := newVM()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e, started := tryStartFilter(t, vm, c.config)
				if started {
					t.Fatalf("plugin started with configuration %q", c.config)
				}
				lines := append(e.host.GetCriticalLogs(), e.host.GetErrorLogs()...)
				if len(lines) != 1 {
					t.Fatalf("log lines = %q, want exactly one", lines)
				}
				for _, fragment := range c.mentions {
					if !strings.Contains(lines[0], fragment) {
						t.Errorf("log line %q does not mention %q", lines[0], fragment)
					}
				}
			})
		}
	})
}
