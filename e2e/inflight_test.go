package e2e

import (
	"context"
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
	// The held tool returns when the test sends on release (one call per
	// value) or when its call is cancelled; closing release at the end
	// frees a call still held when the test fails.
	release := make(chan struct{})
	defer close(release)
	addHoldTool(s.demo.MCPServer(), release)
	progress := make(chan float64, 4)
	alice := s.connect(t, clientOptions{user: "alice", mcp: &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) { progress <- r.Params.Progress },
	}})
	bob := s.connect(t, clientOptions{user: "bob"})

	expectConcurrent := func(what string, err error) {
		t.Helper()
		wire, ok := rateLimitError(err)
		if !ok || wire.Code != defaultErrorCode || wire.Message != "Too many concurrent calls" {
			t.Fatalf("%s: err = %v, want the JSON-RPC error \"Too many concurrent calls\"", what, err)
		}
	}
	// retries counts the calls rejected while an ended call's place was
	// not yet free: the host may release it just after the client has
	// the response.
	retries := uint64(0)
	retried := func(what string, attempt int, err error) {
		t.Helper()
		expectConcurrent(what, err)
		if retries++; attempt == 1000 {
			t.Fatalf("%s: still rejected after %d attempts", what, attempt)
		}
	}

	// hold starts a held call and returns once its progress has streamed.
	// afterEnded: alice's previous call has just ended, so the call may be
	// rejected until its place is free.
	hold := func(ctx context.Context, token string, afterEnded bool) chan error {
		t.Helper()
		for attempt := 0; ; attempt++ {
			done := make(chan error, 1)
			go func() {
				params := &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}}
				params.SetProgressToken(token)
				_, err := alice.CallTool(ctx, params)
				done <- err
			}()
			select {
			case <-progress:
				return done
			case err := <-done:
				if !afterEnded {
					t.Fatalf("the held call ended (%v) before its progress arrived", err)
				}
				retried("held call "+token, attempt, err)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := hold(ctx, "hold-1", false)
	expectConcurrent("alice's second call while one streams", call(alice, demo.ToolEcho))
	if err := call(bob, demo.ToolEcho); err != nil {
		t.Fatalf("bob's call: %v", err)
	}
	select {
	case release <- struct{}{}:
	case <-ctx.Done():
		t.Fatal("the held call was not waiting to be released")
	}
	if err := <-done; err != nil {
		t.Fatalf("held call: %v", err)
	}
	// The stream ended: alice's place is free.
	passes := func(what string) {
		t.Helper()
		for attempt := 0; ; attempt++ {
			err := call(alice, demo.ToolEcho)
			if err == nil {
				return
			}
			retried(what, attempt, err)
		}
	}
	passes("alice after her call completed")

	// A call the client cancels ends its stream too.
	cancelled, cancelHeld := context.WithCancel(ctx)
	done = hold(cancelled, "hold-2", true)
	expectConcurrent("alice's call beside the second held one", call(alice, demo.ToolEcho))
	cancelHeld()
	<-done
	passes("alice after cancelling her call")
	s.expectCounters(t, map[string]uint64{"tools_call.rejected_concurrency": 2 + retries})
}
