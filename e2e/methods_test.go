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

// TestOtherMethodsWithTheSDK limits resources/read per user, one resource
// at a cost of 2 and one prompt, and calls them with the official MCP Go
// SDK client: the rejections reach the client as JSON-RPC errors (status
// 200), a call without an identity gets 401, and the tools stay unlimited.
func TestOtherMethodsWithTheSDK(t *testing.T) {
	s := startStack(t, stackOptions{plugin: `{
		"methods": [{"name": "resources/read", "perUser": {"maxTokens": 3, "refillPeriod": "1h"}}],
		"prompts": [{"name": "` + demo.PromptSummarize + `", "shared": {"maxTokens": 1, "refillPeriod": "1h"}}],
		"resources": [{"uri": "` + demo.ClockURI + `", "cost": 2}],
		"userIdentity": {"from": "header", "header": "` + userHeader + `", "missing": "reject"},
		"rejectStatus": 200}`})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := s.connect(t, clientOptions{user: "alice"})
	bob := s.connect(t, clientOptions{user: "bob"})
	read := func(cs *mcp.ClientSession, uri string) error {
		_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		return err
	}
	expectLimited := func(what string, err error) {
		t.Helper()
		wire, ok := rateLimitError(err)
		if !ok || wire.Code != defaultErrorCode || wire.Message != rateLimitMessage {
			t.Fatalf("%s: err = %v, want the JSON-RPC rate-limit error", what, err)
		}
	}
	if err := read(alice, demo.ClockURI); err != nil {
		t.Fatalf("alice's clock (2 of 3): %v", err)
	}
	expectLimited("alice's second clock (2 more of 1)", read(alice, demo.ClockURI))
	if err := read(alice, "demo://docs/envoy"); err != nil {
		t.Fatalf("alice's document (the last token): %v", err)
	}
	expectLimited("alice's second document", read(alice, "demo://docs/envoy"))
	if err := read(bob, demo.ClockURI); err != nil {
		t.Fatalf("bob's clock: %v", err)
	}
	prompt := &mcp.GetPromptParams{Name: demo.PromptSummarize, Arguments: map[string]string{"uri": "demo://docs/envoy"}}
	if _, err := alice.GetPrompt(ctx, prompt); err != nil {
		t.Fatalf("summarize: %v", err)
	}
	_, err := bob.GetPrompt(ctx, prompt)
	expectLimited("summarize again", err)
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
	resp := s.post(t, `{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"demo://docs/envoy"}}`, session)
	if resp.status != http.StatusUnauthorized || string(resp.body) != `{"jsonrpc":"2.0","id":5,"error":{"code":-32600,"message":"Missing user identity"}}` {
		t.Errorf("resources/read without identity: status %d body %s, want 401 and the JSON-RPC error", resp.status, resp.body)
	}
	s.expectCounters(t, map[string]uint64{
		"method.resources_read.admitted": 3,
		"method.resources_read.rejected": 2,
		"resource.demo___clock.admitted": 2,
		"resource.demo___clock.rejected": 1,
		"prompt.summarize.admitted":      1,
		"prompt.summarize.rejected":      1,
		"requests.identity_missing":      1,
		"tools_call.admitted":            2,
		"tools_call.rejected":            0,
	})
}

// TestOtherMethodsAcrossAFleet keeps the limits of other methods in Redis:
// two hosts share one user's resources/read bucket (a resource at a cost
// of 2) and one prompt's bucket, so a call through either host draws from
// what a call through the other left, and Redis decides every limited
// call, under keys named by the buckets' kinds.
func TestOtherMethodsAcrossAFleet(t *testing.T) {
	backend := startRedisBackend(t)
	plugin := withRedis(`{
		"methods": [{"name": "resources/read", "perUser": {"maxTokens": 3, "refillPeriod": "1h"}}],
		"prompts": [{"name": "`+demo.PromptSummarize+`", "shared": {"maxTokens": 1, "refillPeriod": "1h"}}],
		"resources": [{"uri": "`+demo.ClockURI+`", "cost": 2}],
		"userIdentity": {"from": "header", "header": "`+userHeader+`"},
		"rejectStatus": 200}`, `,"timeout":"2s"`)
	fleet := startFleet(t, 2, plugin, backend)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice := []*mcp.ClientSession{fleet[0].connect(t, clientOptions{user: "alice"}), fleet[1].connect(t, clientOptions{user: "alice"})}
	bob := fleet[1].connect(t, clientOptions{user: "bob"})
	read := func(cs *mcp.ClientSession, uri string) error {
		_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		return err
	}
	expectLimited := func(what string, err error) {
		t.Helper()
		wire, ok := rateLimitError(err)
		if !ok || wire.Code != defaultErrorCode || wire.Message != rateLimitMessage {
			t.Fatalf("%s: err = %v, want the JSON-RPC rate-limit error", what, err)
		}
	}
	if err := read(alice[0], demo.ClockURI); err != nil {
		t.Fatalf("alice's clock through host 0 (2 of 3): %v", err)
	}
	expectLimited("alice's clock through host 1 (2 more of 1)", read(alice[1], demo.ClockURI))
	if err := read(alice[1], "demo://docs/envoy"); err != nil {
		t.Fatalf("alice's document through host 1 (the last token): %v", err)
	}
	expectLimited("alice's document through host 0", read(alice[0], "demo://docs/envoy"))
	if err := read(bob, demo.ClockURI); err != nil {
		t.Fatalf("bob's clock: %v", err)
	}
	prompt := &mcp.GetPromptParams{Name: demo.PromptSummarize, Arguments: map[string]string{"uri": "demo://docs/envoy"}}
	if _, err := alice[0].GetPrompt(ctx, prompt); err != nil {
		t.Fatalf("summarize through host 0: %v", err)
	}
	_, err := bob.GetPrompt(ctx, prompt)
	expectLimited("summarize through host 1", err)

	for name, want := range map[string]uint64{
		"method.resources_read.admitted": 3,
		"method.resources_read.rejected": 2,
		"resource.demo___clock.admitted": 2,
		"resource.demo___clock.rejected": 1,
		"prompt.summarize.admitted":      1,
		"prompt.summarize.rejected":      1,
		"redis.decisions":                7,
		"redis.fallbacks":                0,
		"store.errors":                   0,
	} {
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
