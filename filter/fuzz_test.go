package filter_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

// fuzzConfig turns every feature on, with buckets large enough that a
// well-formed tools/call is always admitted.
const fuzzConfig = `{"shared":{"maxTokens":1000000,"refillPeriod":"1h"},` +
	`"perUser":{"maxTokens":1000000,"refillPeriod":"1h"},` +
	`"quota":{"maxCalls":1000000,"period":"day","timeZone":"Europe/Berlin"},"concurrency":{"shared":10000,"perUser":10000},` +
	`"tools":[{"name":"search","shared":{"maxTokens":1000000,"refillPeriod":"1h"},"perUser":{"maxTokens":1000000,"refillPeriod":"1h"},"cost":3,` +
	`"perUserQuota":{"maxCalls":1000000,"period":"week"},"concurrency":{"shared":10000}}],` +
	`"methods":[{"name":"resources/read","shared":{"maxTokens":1000000,"refillPeriod":"1h"},"concurrency":{"perUser":10000}}],` +
	`"prompts":[{"name":"summarize","perUser":{"maxTokens":1000000,"refillPeriod":"1h"},"cost":2}],` +
	`"resources":[{"uri":"demo://clock","quota":{"maxCalls":1000000,"period":"month"}}],` +
	`"userIdentity":{"from":"header","header":"x-user-id","missing":"anonymous"},"paths":["/mcp"],` +
	`"maxRequestBodyBytes":4096,"batch":"limit","rateLimitHeaders":true}`

// FuzzRequest sends arbitrary requests through the Go filter: it must never
// panic, every local reply must be one the filter documents, and a body
// that encoding/json reads as a tools/call must never pass uncounted. The
// Content-Type and Content-Encoding are fuzzed too: a request that passes
// uncounted must not declare a charset or coding a server could decode the
// body with.
//
//	go test ./filter -run '^$' -fuzz FuzzRequest -fuzztime 30s
func FuzzRequest(f *testing.F) {
	seeds := []struct {
		body, path, method, name, user, contentType, contentEncoding string
		split                                                        uint16
	}{
		{toolsCall("1", "search"), "/mcp", "", "", "alice", "application/json", "", 0},
		{toolsCall("1", "search"), "/mcp", "tools/call", "search", "", "application/json; charset=utf-8", "identity", 10},
		{toolsCall(`"x"`, "other"), "//MCP/x?y", "tools/list", "", "", "", "", 3},
		{"[" + toolsCall("1", "search") + "," + toolsCall("", "search") + "]", "/mcp", "", "", "bob", "application/json", "", 7},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"x"}}`, "/mcp", "", "", "", "application/json", "", 0},
		{`{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"se\u0061rch"}}`, "/mcp", "", "=?base64?c2VhcmNo?=", "", "application/json", "", 0},
		{`{"jsonrpc":"2.0","id":3,"method":"+AHQ-ools/call","params":{"name":"search"}}`, "/mcp", "", "", "", "application/json; charset=utf-7", "", 0},
		{toolsCall("1", "search"), "/mcp", "", "", "", `application/json; charset="UTF-8"`, "gzip", 0},
		{"not json", "/mcp/../mcp", "", "", "", "text/plain", "", 1},
		{"", "/mcp", "", "", "", "", "", 0},
		{"[]", "/mcp", "", "", "", "application/json", "", 0},
		{`{"jsonrpc":"2.0","method":"tools/call"}`, "/mcp", "", "", "", "application/json", "", 0},
		{`{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"demo://clock"}}`, "/mcp", "resources/read", "demo://clock", "carol", "application/json", "", 0},
		{`{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"summarize"}}`, "/mcp", "", "", "", "application/json", "", 5},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.path, s.method, s.name, s.user, s.contentType, s.contentEncoding, s.split)
	}
	f.Fuzz(func(t *testing.T, body []byte, path, mcpMethod, mcpName, user, contentType, contentEncoding string, split uint16) {
		e := startFilter(t, filter.NewVMContext(), fuzzConfig)
		var headers [][2]string
		for _, h := range [][2]string{{"mcp-method", mcpMethod}, {"mcp-name", mcpName}, {"x-user-id", user},
			{"content-type", contentType}, {"content-encoding", contentEncoding}} {
			if h[1] != "" {
				headers = append(headers, h)
			}
		}
		r := request{path: path, headers: headers, body: string(body)}
		if int(split) > 0 && int(split) < len(body) {
			r.splits = []int{int(split)}
		}
		admittedBefore := e.counter(metricName("tools_call.admitted"))
		o := e.send(r)
		if o.reply == nil {
			inspected := o.forwarded() && filter.PathMatches([]string{"/mcp"}, path)
			if countsAsToolsCall(body) && inspected && e.counter(metricName("tools_call.admitted")) == admittedBefore {
				t.Fatalf("a tools/call passed uncounted: %q", body)
			}
			if inspected && filter.BodyEncodingMessage(headers) != "" {
				t.Fatalf("passed with content-type %q, content-encoding %q", contentType, contentEncoding)
			}
			return
		}
		switch o.reply.StatusCode {
		case 415:
			if filter.BodyEncodingMessage(headers) == "" || !json.Valid(o.reply.Data) {
				t.Fatalf("415 for content-type %q, content-encoding %q: %q", contentType, contentEncoding, o.reply.Data)
			}
		case 400, 413:
			if !json.Valid(o.reply.Data) {
				t.Fatalf("reply %d body is not JSON: %q", o.reply.StatusCode, o.reply.Data)
			}
		case 429:
			wait, _ := header(o.reply.Headers, "retry-after")
			if n, err := strconv.Atoi(wait); err != nil || n < 1 {
				t.Fatalf("429 with retry-after %q", wait)
			}
		default:
			t.Fatalf("unexpected reply %s", describeReply(o.reply))
		}
	})
}

// countsAsToolsCall reports whether encoding/json reads body as one
// JSON-RPC tools/call (a server built on it would execute one).
func countsAsToolsCall(body []byte) bool {
	var message struct {
		Method string `json:"method"`
	}
	if err := json.Unmarshal(body, &message); err != nil {
		return false
	}
	return message.Method == "tools/call"
}
