package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// otherMethodsLimits limit resources/read per user (3 an hour), the demo's
// clock resource at a cost of 2, and the demo's prompt (1 an hour).
const otherMethodsLimits = `
		"methods": [{"name": "resources/read", "perUser": {"maxTokens": 3, "refillPeriod": "1h"}}],
		"prompts": [{"name": "` + demo.PromptSummarize + `", "shared": {"maxTokens": 1, "refillPeriod": "1h"}}],
		"resources": [{"uri": "` + demo.ClockURI + `", "cost": 2}]`

// otherMethodsCounts are the counters, summed over hosts, after
// otherMethodsSequence.
var otherMethodsCounts = map[string]uint64{
	"method.resources_read.admitted": 3,
	"method.resources_read.rejected": 2,
	"resource.demo___clock.admitted": 2,
	"resource.demo___clock.rejected": 1,
	"prompt.summarize.admitted":      1,
	"prompt.summarize.rejected":      1,
}

// otherMethodsSequence reads resources and gets the prompt under
// otherMethodsLimits, as alice (through alice[0] and alice[1], which may be
// sessions of two hosts) and bob, and checks which calls are admitted and
// which get the JSON-RPC rate-limit error of rejectStatus 200.
func otherMethodsSequence(t *testing.T, alice [2]*mcp.ClientSession, bob *mcp.ClientSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	read := func(cs *mcp.ClientSession, uri string) error {
		_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		return err
	}
	prompt := func(cs *mcp.ClientSession) error {
		_, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: demo.PromptSummarize, Arguments: map[string]string{"uri": "demo://docs/envoy"}})
		return err
	}
	// The calls run in order as the list is built: Go evaluates the
	// calls of a composite literal left to right.
	steps := []struct {
		what    string
		err     error
		limited bool
	}{
		{"alice's clock (2 of 3)", read(alice[0], demo.ClockURI), false},
		{"alice's second clock (2 more of 1)", read(alice[1], demo.ClockURI), true},
		{"alice's document (the last token)", read(alice[1], "demo://docs/envoy"), false},
		{"alice's second document", read(alice[0], "demo://docs/envoy"), true},
		{"bob's clock", read(bob, demo.ClockURI), false},
		{"alice's summarize", prompt(alice[0]), false},
		{"bob's summarize (the prompt's only token gone)", prompt(bob), true},
	}
	for i, st := range steps {
		wire, isLimit := rateLimitError(st.err)
		isLimit = isLimit && wire.Code == defaultErrorCode && wire.Message == rateLimitMessage
		switch {
		case st.limited && !isLimit:
			t.Errorf("step %d, %s: err = %v, want the JSON-RPC rate-limit error", i, st.what, st.err)
		case !st.limited && st.err != nil:
			t.Errorf("step %d, %s: %v", i, st.what, st.err)
		}
	}
}

// TestOtherMethodsWithTheSDK limits resources/read per user, one resource
// at a cost of 2 and one prompt, and calls them with the official MCP Go
// SDK client: the rejections reach the client as JSON-RPC errors (status
// 200), a call without an identity gets 401, and the tools stay unlimited.
func TestOtherMethodsWithTheSDK(t *testing.T) {
	s := startStack(t, stackOptions{plugin: `{` + otherMethodsLimits + `,
		"userIdentity": {"from": "header", "header": "` + userHeader + `", "missing": "reject"},
		"rejectStatus": 200}`})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := s.connect(t, clientOptions{user: "alice"})
	bob := s.connect(t, clientOptions{user: "bob"})
	otherMethodsSequence(t, [2]*mcp.ClientSession{alice, alice}, bob)
	for _, cs := range []*mcp.ClientSession{alice, bob} {
		if _, err := cs.ListResources(ctx, nil); err != nil {
			t.Errorf("resources/list: %v", err)
		}
		if err := call(cs, demo.ToolEcho); err != nil {
			t.Errorf("tools/call: %v", err)
		}
	}
	// Without an identity the session opens (initialize is not limited)
	// but resources/read is refused.
	session := s.openSession(t, nil)
	resp := s.post(t, resourcesReadBody("5", "demo://docs/envoy"), session)
	if resp.status != http.StatusUnauthorized || string(resp.body) != `{"jsonrpc":"2.0","id":5,"error":{"code":-32600,"message":"Missing user identity"}}` {
		t.Errorf("resources/read without identity: status %d body %s, want 401 and the JSON-RPC error", resp.status, resp.body)
	}
	want := map[string]uint64{"requests.identity_missing": 1, "tools_call.admitted": 2, "tools_call.rejected": 0}
	for name, n := range otherMethodsCounts {
		want[name] = n
	}
	s.expectCounters(t, want)
}

// TestOtherMethodsAcrossAFleet keeps the limits of other methods in Redis:
// two hosts share one user's resources/read bucket (a resource at a cost
// of 2) and one prompt's bucket, so a call through either host draws from
// what a call through the other left, and Redis decides every limited
// call, under keys named by the buckets' kinds.
func TestOtherMethodsAcrossAFleet(t *testing.T) {
	backend := startRedisBackend(t)
	plugin := withRedis(`{`+otherMethodsLimits+`,
		"userIdentity": {"from": "header", "header": "`+userHeader+`"},
		"rejectStatus": 200}`, `,"timeout":"2s"`)
	fleet := startFleet(t, 2, plugin, backend)
	bob := fleet[1].connect(t, clientOptions{user: "bob"})
	otherMethodsSequence(t, [2]*mcp.ClientSession{fleet[0].connect(t, clientOptions{user: "alice"}),
		fleet[1].connect(t, clientOptions{user: "alice"})}, bob)

	counts := map[string]uint64{"redis.decisions": 7, "redis.fallbacks": 0, "store.errors": 0}
	for name, n := range otherMethodsCounts {
		counts[name] = n
	}
	for name, want := range counts {
		if got := fleetCounter(fleet, name); got != want {
			t.Errorf("%s = %d over both hosts, want %d", name, got, want)
		}
	}
	keys, err := backend.redis.Do("KEYS", "*")
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	listed := fmt.Sprint(keys)
	for part, want := range map[string]int{
		"/user-method/resources%2Fread/":        2, // alice's and bob's
		"/prompt/" + demo.PromptSummarize + "/": 1,
	} {
		if n := strings.Count(listed, part); n != want {
			t.Errorf("%d Redis keys hold %q, want %d; keys: %s", n, part, want, listed)
		}
	}
}
