package e2e

import (
	"context"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// TestConcurrencyCapWithStreamingCalls holds a streaming tool call (its
// progress notification arrives over the POST's SSE response while the
// call runs) and checks with the official MCP Go SDK client that the
// user's cap of one call in flight rejects a second call until the first
// ends, by completing or by the client cancelling it.
func TestConcurrencyCapWithStreamingCalls(t *testing.T) {
	s := startStack(t, stackOptions{plugin: `{"concurrency":{"perUser":1},` +
		`"userIdentity":{"from":"header","header":"` + userHeader + `"},"rejectStatus":200}`})
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseHold := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseHold()
	mcp.AddTool(s.demo.MCPServer(), &mcp.Tool{Name: "hold"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1, Total: 2})
		if err != nil {
			return nil, nil, err
		}
		select {
		case <-release:
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "released"}}}, nil, nil
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		}
	})
	progress := make(chan float64, 4)
	alice := s.connect(t, clientOptions{user: "alice", mcp: &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) { progress <- r.Params.Progress },
	}})
	bob := s.connect(t, clientOptions{user: "bob"})

	// hold starts a held call and returns once its progress has streamed.
	hold := func(ctx context.Context, token string) chan error {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			params := &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}}
			params.SetProgressToken(token)
			_, err := alice.CallTool(ctx, params)
			done <- err
		}()
		select {
		case <-progress:
		case err := <-done:
			t.Fatalf("the held call ended (%v) before its progress arrived", err)
		}
		return done
	}
	expectConcurrent := func(what string, err error) {
		t.Helper()
		wire, ok := rateLimitError(err)
		if !ok || wire.Code != defaultErrorCode || wire.Message != "Too many concurrent calls" {
			t.Fatalf("%s: err = %v, want the JSON-RPC error \"Too many concurrent calls\"", what, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := hold(ctx, "hold-1")
	expectConcurrent("alice's second call while one streams", call(alice, demo.ToolEcho))
	if err := call(bob, demo.ToolEcho); err != nil {
		t.Fatalf("bob's call: %v", err)
	}
	releaseHold()
	if err := <-done; err != nil {
		t.Fatalf("held call: %v", err)
	}
	// The stream ended: alice's place is free (the host may release it
	// just after the client has the response).
	retries := uint64(0)
	passes := func(what string) {
		t.Helper()
		for attempt := 0; ; attempt++ {
			err := call(alice, demo.ToolEcho)
			if err == nil {
				return
			}
			expectConcurrent(what, err)
			if retries++; attempt == 1000 {
				t.Fatalf("%s: still rejected after %d attempts", what, attempt)
			}
		}
	}
	passes("alice after her call completed")

	// A call the client cancels ends its stream too.
	release = make(chan struct{})
	releaseOnce = sync.Once{}
	cancelled, cancelHeld := context.WithCancel(ctx)
	done = hold(cancelled, "hold-2")
	expectConcurrent("alice's call beside the second held one", call(alice, demo.ToolEcho))
	cancelHeld()
	<-done
	passes("alice after cancelling her call")
	s.expectCounters(t, map[string]uint64{"tools_call.rejected_concurrency": 2 + retries})
}
