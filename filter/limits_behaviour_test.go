package filter_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/tzdb"
)

// Behaviour tests of tool costs, requests without an identity, other
// methods and calendar quotas, run natively and against the compiled
// module (forEachVM).

func TestToolCostTakesThatManyTokens(t *testing.T) {
	// 5 tokens a minute: one every 12 seconds.
	const cfg = `{"shared":{"maxTokens":5,"refillPeriod":"1m"},"tools":[{"name":"heavy","cost":3}]}`
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), cfg)
		expectForwarded(t, e.send(request{body: toolsCall("1", "heavy")}), "first heavy call (3 of 5)")
		// 2 tokens left, 3 needed: the wait is one token's refill, 12s.
		o := e.send(request{body: toolsCall("2", "heavy")})
		expectReply(t, o, "second heavy call", 429, rateLimitedBody("2", -32029, 12))
		if got, _ := header(o.reply.Headers, "retry-after"); got != "12" {
			t.Errorf("retry-after = %q, want 12", got)
		}
		// The rejected call took nothing: two light calls still pass.
		expectForwarded(t, e.send(request{body: toolsCall("3", "light")}), "light call (cost 1)")
		expectForwarded(t, e.send(request{body: toolsCall("4", "light")}), "second light call")
		expectReply(t, e.send(request{body: toolsCall("5", "light")}), "light call on an empty bucket", 429,
			rateLimitedBody("5", -32029, 12))
		if got := e.counter(metricName("tools_call.admitted")); got != 3 {
			t.Errorf("admitted = %d, want 3 (calls, not tokens)", got)
		}
		if got := e.counter(metricName("tools_call.rejected")); got != 2 {
			t.Errorf("rejected = %d, want 2", got)
		}
	})
}

func TestToolCostInABatchIsAllOrNothing(t *testing.T) {
	const cfg = `{"shared":{"maxTokens":4,"refillPeriod":"1h"},"tools":[{"name":"heavy","cost":3}],"batch":"limit"}`
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), cfg)
		// 3 + 3 = 6 tokens from a bucket of 4: more than it can ever hold.
		batch := "[" + toolsCall("1", "heavy") + "," + toolsCall("2", "heavy") + "]"
		expectReply(t, e.send(request{body: batch}), "batch of two heavy calls", 429, `"id":1`, `"id":2`)
		// Nothing was taken: one heavy call and one light call pass.
		expectForwarded(t, e.send(request{body: "[" + toolsCall("3", "heavy") + "," + toolsCall("4", "light") + "]"}), "heavy and light")
		expectReply(t, e.send(request{body: toolsCall("5", "light")}), "bucket empty", 429)
	})
}

func TestToolCostAboveABucketIsRefused(t *testing.T) {
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e, started := tryStartFilter(t, newVM(), `{"shared":{"maxTokens":2,"refillPeriod":"1m"},"tools":[{"name":"heavy","cost":3}]}`)
		if started {
			t.Fatal("plugin started with a cost above shared.maxTokens")
		}
		want := `tools[0].cost: 3 is more than shared.maxTokens 2`
		logs := e.host.GetCriticalLogs()
		if len(logs) != 1 || !strings.Contains(logs[0], want) {
			t.Errorf("critical logs = %q, want one line with %q", logs, want)
		}
	})
}

func TestMissingIdentity(t *testing.T) {
	const perUser = `"perUser":{"maxTokens":1,"refillPeriod":"1h"},"userIdentity":{"from":"header","header":"x-user-id"`
	alice := [][2]string{{"x-user-id", "alice"}}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		t.Run("shared", func(t *testing.T) {
			// The default: without an identity only the other buckets apply
			// (here none), so such calls are never limited per user.
			e := startFilter(t, newVM(), `{`+perUser+`}}`)
			for _, id := range []string{"1", "2", "3"} {
				expectForwarded(t, e.send(request{body: toolsCall(id, "echo")}), "call without identity "+id)
			}
		})
		t.Run("anonymous", func(t *testing.T) {
			e := startFilter(t, newVM(), `{`+perUser+`,"missing":"anonymous"}}`)
			expectForwarded(t, e.send(request{body: toolsCall("1", "echo")}), "first anonymous call")
			expectReply(t, e.send(request{body: toolsCall("2", "echo")}), "second anonymous call", 429, rateLimitedBody("2", -32029, 3600))
			// The anonymous bucket is nobody's: neither alice's nor that of a
			// user called "anonymous".
			expectForwarded(t, e.send(request{body: toolsCall("3", "echo"), headers: alice}), "alice")
			expectForwarded(t, e.send(request{body: toolsCall("4", "echo"), headers: [][2]string{{"x-user-id", "anonymous"}}}), `user "anonymous"`)
			expectForwarded(t, e.send(request{body: rpc("5", "tools/list")}), "tools/list without identity")
		})
		t.Run("reject", func(t *testing.T) {
			e := startFilter(t, newVM(), `{`+perUser+`,"missing":"reject"},"batch":"limit"}`)
			o := e.send(request{body: toolsCall("7", "echo")})
			expectReply(t, o, "call without identity", 401,
				`{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"Missing user identity"}}`)
			if ct, _ := header(o.reply.Headers, "content-type"); ct != "application/json" {
				t.Errorf("content-type = %q, want application/json", ct)
			}
			if _, ok := header(o.reply.Headers, "retry-after"); ok {
				t.Error("a 401 carries retry-after")
			}
			expectReply(t, e.send(request{body: "[" + toolsCall("8", "echo") + "," + rpc("9", "tools/list") + "]"}),
				"batch without identity", 401, `[{"jsonrpc":"2.0","id":8,`, `{"jsonrpc":"2.0","id":9,`)
			// Methods that are not limited pass without an identity.
			expectForwarded(t, e.send(request{body: rpc("10", "tools/list")}), "tools/list without identity")
			// Nothing was taken: alice still has her token.
			expectForwarded(t, e.send(request{body: toolsCall("11", "echo"), headers: alice}), "alice")
			if got := e.counter(metricName("requests.identity_missing")); got != 2 {
				t.Errorf("requests.identity_missing = %d, want 2", got)
			}
			if got := e.counter(metricName("tools_call.rejected")); got != 0 {
				t.Errorf("tools_call.rejected = %d, want 0 (a 401 is no rate limit)", got)
			}
		})
		t.Run("reject in a dry run", func(t *testing.T) {
			e := startFilter(t, newVM(), `{`+perUser+`,"missing":"reject"},"dryRun":true}`)
			expectForwarded(t, e.send(request{body: toolsCall("1", "echo")}), "call without identity")
			if got := e.counter(metricName("requests.identity_missing")); got != 1 {
				t.Errorf("requests.identity_missing = %d, want 1", got)
			}
		})
	})
}

// resourcesRead and promptsGet are request bodies of other MCP methods.
func resourcesRead(id, uri string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"resources/read","params":{"uri":"` + uri + `"}}`
}

func promptsGet(id, name string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"prompts/get","params":{"name":"` + name + `"}}`
}

func TestOtherMethodsAreLimited(t *testing.T) {
	// resources/read: 3 an hour (one token every 1200s); demo://big costs 2.
	const cfg = `{"shared":{"maxTokens":1,"refillPeriod":"1h"},` +
		`"methods":[{"name":"resources/read","shared":{"maxTokens":3,"refillPeriod":"1h"}},{"name":"resources/list","shared":{"maxTokens":1,"refillPeriod":"1h"}}],` +
		`"prompts":[{"name":"summarize","shared":{"maxTokens":1,"refillPeriod":"1h"}}],` +
		`"resources":[{"uri":"demo://big","cost":2}]}`
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), cfg)
		expectForwarded(t, e.send(request{body: resourcesRead("1", "demo://big")}), "big resource (2 of 3)")
		expectReply(t, e.send(request{body: resourcesRead("2", "demo://big")}), "big resource again", 429, rateLimitedBody("2", -32029, 1200))
		expectForwarded(t, e.send(request{body: resourcesRead("3", "demo://small")}), "small resource (the last token)")
		expectReply(t, e.send(request{body: resourcesRead("4", "demo://small")}), "small resource again", 429, rateLimitedBody("4", -32029, 1200))
		expectForwarded(t, e.send(request{body: rpc("5", "resources/list")}), "resources/list")
		expectReply(t, e.send(request{body: rpc("6", "resources/list")}), "resources/list again", 429)
		expectForwarded(t, e.send(request{body: promptsGet("7", "summarize")}), "summarize")
		expectReply(t, e.send(request{body: promptsGet("8", "summarize")}), "summarize again", 429, rateLimitedBody("8", -32029, 3600))
		// Prompts not listed, and methods without limits, pass.
		for i, body := range []string{promptsGet("9", "other"), promptsGet("10", "Summarize"), rpc("11", "tools/list"), rpc("12", "prompts/list")} {
			expectForwarded(t, e.send(request{body: body}), "unlimited "+strconv.Itoa(i))
		}
		// tools/call has its own bucket, untouched by the others.
		expectForwarded(t, e.send(request{body: toolsCall("13", "echo")}), "tools/call")
		expectReply(t, e.send(request{body: toolsCall("14", "echo")}), "tools/call again", 429)
		for name, want := range map[string]uint64{
			"method.resources_read.admitted": 2, "method.resources_read.rejected": 2,
			"method.resources_list.admitted": 1, "method.resources_list.rejected": 1,
			"resource.demo___big.admitted": 1, "resource.demo___big.rejected": 1,
			"prompt.summarize.admitted": 1, "prompt.summarize.rejected": 1,
			"tools_call.admitted": 1, "tools_call.rejected": 1,
		} {
			if got := e.counter(metricName(name)); got != want {
				t.Errorf("%s = %d, want %d", name, got, want)
			}
		}
	})
}

func TestOtherMethodsPerUserAndInBatches(t *testing.T) {
	const cfg = `{"shared":{"maxTokens":10,"refillPeriod":"1h"},` +
		`"methods":[{"name":"prompts/get","perUser":{"maxTokens":2,"refillPeriod":"1h"}}],` +
		`"userIdentity":{"from":"header","header":"x-user-id","missing":"reject"},"batch":"limit"}`
	alice := [][2]string{{"x-user-id", "alice"}}
	bob := [][2]string{{"x-user-id", "bob"}}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), cfg)
		expectReply(t, e.send(request{body: promptsGet("1", "p")}), "prompts/get without identity", 401, `"code":-32600`)
		// A batch of a tools/call and three prompts/get needs 3 of alice's 2.
		batch := "[" + toolsCall("2", "echo") + "," + promptsGet("3", "p") + "," + promptsGet("4", "q") + "," + promptsGet("5", "r") + "]"
		expectReply(t, e.send(request{body: batch, headers: alice}), "batch over alice's budget", 429, `"id":2`, `"id":5`)
		// Nothing was taken from either bucket.
		expectForwarded(t, e.send(request{body: "[" + promptsGet("6", "p") + "," + promptsGet("7", "q") + "]", headers: alice}), "two prompts for alice")
		expectReply(t, e.send(request{body: promptsGet("8", "p"), headers: alice}), "alice's third prompt", 429)
		expectForwarded(t, e.send(request{body: promptsGet("9", "p"), headers: bob}), "bob's prompt")
		if got := e.counter(metricName("tools_call.rejected")); got != 1 {
			t.Errorf("tools_call.rejected = %d, want 1 (the batch's one tools/call)", got)
		}
		if got := e.counter(metricName("method.prompts_get.rejected")); got != 4 {
			t.Errorf("method.prompts_get.rejected = %d, want 4", got)
		}
	})
}

func TestQuotaRejectionWaitsForTheReset(t *testing.T) {
	const cfg = `{"quota":{"maxCalls":2,"period":"day","timeZone":"Asia/Kolkata"},"shared":{"maxTokens":100,"refillPeriod":"1m"}}`
	kolkata, err := tzdb.Load("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	// secondsToMidnight is the Retry-After of a rejection at at.
	secondsToMidnight := func(at time.Time) int64 {
		local := at.In(kolkata)
		y, m, d := local.Date()
		wait := time.Date(y, m, d+1, 0, 0, 0, 0, kolkata).Sub(at)
		return int64((wait + time.Second - 1) / time.Second)
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), cfg)
		before := time.Now()
		expectForwarded(t, e.send(request{body: toolsCall("1", "echo")}), "first call")
		expectForwarded(t, e.send(request{body: toolsCall("2", "echo")}), "second call")
		o := e.send(request{body: toolsCall("3", "echo")})
		after := time.Now()
		if strings.HasSuffix(t.Name(), "/wasm") {
			// The compiled module runs under wazero's default clock, a fake
			// wall clock that starts at 2022-01-01T00:00:00Z and advances 1ms
			// per reading (wazero internal/platform NewFakeWalltime).
			before = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
			after = before.Add(time.Minute)
		}
		expectReply(t, o, "third call", 429, `"message":"Rate limit exceeded"`)
		got, _ := header(o.reply.Headers, "retry-after")
		wait, err := strconv.ParseInt(got, 10, 64)
		// The module read its clock between before and after.
		if err != nil || wait > secondsToMidnight(before) || wait < secondsToMidnight(after) {
			t.Errorf("retry-after %q, want the seconds to midnight in Kolkata, %d to %d", got, secondsToMidnight(after), secondsToMidnight(before))
		}
		if !strings.Contains(string(o.reply.Data), `"retryAfterSeconds":`+got+`}`) {
			t.Errorf("body %s does not carry retryAfterSeconds %s", o.reply.Data, got)
		}
		if got := e.counter(metricName("tools_call.rejected_quota")); got != 1 {
			t.Errorf("tools_call.rejected_quota = %d, want 1", got)
		}
		if got := e.counter(metricName("tools_call.rejected_shared")); got != 0 {
			t.Errorf("tools_call.rejected_shared = %d, want 0: the shared bucket had tokens", got)
		}
		// The rejected call took no token from the bucket; the quota is
		// not a bucket: other methods are not counted.
		expectForwarded(t, e.send(request{body: rpc("4", "tools/list")}), "tools/list")
	})
}

func TestConcurrencyCapHoldsUntilTheStreamEnds(t *testing.T) {
	const cfg = `{"concurrency":{"shared":2},"tools":[{"name":"slow","concurrency":{"shared":1}}],"shared":{"maxTokens":100,"refillPeriod":"1m"}}`
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), cfg)
		first := e.send(request{body: toolsCall("1", "slow")})
		expectForwarded(t, first, "first slow call")
		o := e.send(request{body: toolsCall("2", "slow")})
		expectReply(t, o, "second slow call while the first runs", 429,
			`{"jsonrpc":"2.0","id":2,"error":{"code":-32029,"message":"Too many concurrent calls"}}`)
		if got, ok := header(o.reply.Headers, "retry-after"); ok {
			t.Errorf("a concurrency rejection carries retry-after %q", got)
		}
		echo := e.send(request{body: toolsCall("3", "echo")})
		expectForwarded(t, echo, "echo beside the slow call")
		expectReply(t, e.send(request{body: toolsCall("4", "echo")}), "a third call in flight", 429, "Too many concurrent calls")
		// Calls of other methods are not capped.
		expectForwarded(t, e.send(request{body: rpc("5", "tools/list")}), "tools/list")
		e.respond(first) // the slow call's stream ends
		expectForwarded(t, e.send(request{body: toolsCall("6", "slow")}), "slow call after the first ended")
		e.host.CompleteHttpContext(echo.contextID) // reset, however it ends
		expectForwarded(t, e.send(request{body: toolsCall("7", "echo")}), "echo after the other ended")
		for name, want := range map[string]uint64{
			"tools_call.rejected_concurrency": 2, "tools_call.rejected": 0, "tools_call.admitted": 4, "tool.slow.rejected": 1,
		} {
			if got := e.counter(metricName(name)); got != want {
				t.Errorf("%s = %d, want %d", name, got, want)
			}
		}
	})
}

func TestConcurrencyCapPerUserWithTheOtherLimits(t *testing.T) {
	const cfg = `{"concurrency":{"perUser":1},"perUser":{"maxTokens":2,"refillPeriod":"1h"},` +
		`"userIdentity":{"from":"header","header":"x-user-id"},"rejectStatus":200}`
	alice := [][2]string{{"x-user-id", "alice"}}
	bob := [][2]string{{"x-user-id", "bob"}}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), cfg)
		held := e.send(request{body: toolsCall("1", "echo"), headers: alice})
		expectForwarded(t, held, "alice's first call")
		expectReply(t, e.send(request{body: toolsCall("2", "echo"), headers: alice}), "alice's second call in flight", 200, "Too many concurrent calls")
		expectForwarded(t, e.send(request{body: toolsCall("3", "echo"), headers: bob}), "bob's call")
		e.respond(held)
		// The rejected call took no token: alice still has one.
		second := e.send(request{body: toolsCall("4", "echo"), headers: alice})
		expectForwarded(t, second, "alice's call after the first ended")
		e.respond(second)
		// Her bucket is empty now: a token rejection takes no place either.
		expectReply(t, e.send(request{body: toolsCall("5", "echo"), headers: alice}), "alice's third token", 200, "Rate limit exceeded")
	})
}
