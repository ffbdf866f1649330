package host

import (
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// TestHeldStreamAnswersWithItsOwnRequest runs the compiled module in Redis
// mode with two streams interleaved on one VM. The module reads every
// request's :method, header map and body into memory it reuses
// (filter/hostcalls_wasip1.go), so while the first call waits for Redis, a
// second call with another id, another user and a larger body is read into
// the same memory. Redis then rejects the first call: its 429 must carry
// its own id, and the second call, admitted at once, must reach the
// upstream.
func TestHeldStreamAnswersWithItsOwnRequest(t *testing.T) {
	code := readArtifact(t, shippedWasm, "build")
	d := newDirect(t, code, directOptions{version: "1.33",
		plugin: `{"perUser":{"maxTokens":1,"refillPeriod":"1000h"},` +
			`"userIdentity":{"from":"header","header":"x-user-id"},` +
			`"redis":{"cluster":"webdis","username":"mcp","password":"secret"}}`,
		webdis: instantWebdis})
	// The first callout is held until the test answers it; the others are
	// admitted at once.
	held := make(chan heldCall, 1)
	calls := 0
	d.env.HTTPCall = func(c proxywasm.Callout, done func(proxywasm.CalloutResponse)) {
		calls++
		if calls == 1 {
			held <- heldCall{c, done}
			return
		}
		done(instantWebdis(c))
	}

	first := make(chan response, 1)
	go func() {
		body := `{"jsonrpc":"2.0","id":"first-call","method":"tools/call","params":{"name":"echo","arguments":{}}}`
		first <- d.do(mcpHeaders([2]string{"x-user-id", "alice"}), []byte(body), 0, 1<<20)
	}()
	answer := <-held

	// The same shape (the id at the same offset), larger, still within
	// the memory the first body was read into.
	second := `{"jsonrpc":"2.0","id":"other-call","method":"tools/call","params":{"name":"search","arguments":{"q":"` +
		strings.Repeat("x", 1000) + `"}}}`
	r := d.do(mcpHeaders([2]string{"x-user-id", "bob-" + strings.Repeat("b", 200)}), []byte(second), 0, 1<<20)
	if r.status != 200 || !r.upstream {
		t.Fatalf("second call: status %d, upstream %v, body %s; want 200 from the upstream", r.status, r.upstream, r.body)
	}

	// The user's bucket of 1 token per 1000 h owing an hour: rejected,
	// retry in an hour (bucket/redis/take.lua: allowed, then the debt in seconds,
	// nanoseconds and fraction).
	answer.done(webdisAnswer(answer.callout, "[0,3600,0,0]"))
	got := <-first
	retry, _ := got.headers.Get("retry-after")
	if got.status != 429 || retry != "3600" || got.upstream {
		t.Fatalf("first call: status %d, retry-after %q, upstream %v, body %s; want 429, 3600 and no upstream",
			got.status, retry, got.upstream, got.body)
	}
	if !strings.Contains(string(got.body), `"id":"first-call"`) {
		t.Errorf("first call's reply %s does not carry its id \"first-call\"", got.body)
	}
	if calls != 2 {
		t.Errorf("%d callouts, want 2 (one per call)", calls)
	}
}
