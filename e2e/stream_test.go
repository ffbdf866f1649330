package e2e

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// streamPlugin limits tool calls generously, so the filter inspects every
// POST but rejects none.
const streamPlugin = `{"shared":{"maxTokens":100,"refillPeriod":"1m"}}`

// waitUpdate publishes the clock until the subscriber reports an update:
// a subscription may be registered on the server a moment after Subscribe
// returns (the 2026-07-28 listen stream).
func waitUpdate(t *testing.T, s *stack, updates <-chan string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := s.demo.PublishClock(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case uri := <-updates:
			if uri != demo.ClockURI {
				t.Fatalf("update for %q, want %q", uri, demo.ClockURI)
			}
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no clock update reached the client through the host")
		}
	}
}

// TestServerPushedNotifications checks that the streams a server pushes
// notifications on go through the filter unbuffered and stay open: the
// standalone GET stream of a legacy session, and the subscriptions/listen
// POST stream of a 2026-07-28 client.
func TestServerPushedNotifications(t *testing.T) {
	t.Run("GET stream", func(t *testing.T) {
		s := startStack(t, stackOptions{plugin: streamPlugin})
		updates := make(chan string, 16)
		cs := s.connect(t, clientOptions{protocol: legacyProtocol, mcp: &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { updates <- r.Params.URI },
		}})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: demo.ClockURI}); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		eventually(t, testTimeout, "the GET stream to open", func() bool { return s.demo.OpenStreams() == 1 })
		for range 3 {
			if err := s.demo.PublishClock(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-updates:
			case <-ctx.Done():
				t.Fatal("a clock update did not arrive on the GET stream")
			}
			// Tool calls keep working while the stream is open.
			if err := call(cs, demo.ToolEcho); err != nil {
				t.Fatalf("echo while the stream is open: %v", err)
			}
		}
		if opened, open := s.demo.StreamsOpened(), s.demo.OpenStreams(); opened != 1 || open != 1 {
			t.Errorf("streams opened %d, open now %d; want the one stream kept open", opened, open)
		}
	})
	t.Run("subscriptions/listen stream", func(t *testing.T) {
		s := startStack(t, stackOptions{plugin: streamPlugin})
		updates := make(chan string, 64)
		cs := s.connect(t, clientOptions{mcp: &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { updates <- r.Params.URI },
		}})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: demo.ClockURI}); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		waitUpdate(t, s, updates)
		waitUpdate(t, s, updates)
		if err := call(cs, demo.ToolEcho); err != nil {
			t.Fatalf("echo while the listen stream is open: %v", err)
		}
	})
	t.Run("raw GET stream", func(t *testing.T) {
		s := startStack(t, stackOptions{plugin: streamPlugin})
		session := s.openSession(t, nil)
		expectPassed(t, "resources/subscribe", s.post(t, `{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"`+demo.ClockURI+`"}}`, session))

		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "text/event-stream")
		for k, v := range session {
			req.Header.Set(k, v)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("GET: status %d content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				case <-ctx.Done():
					return
				}
			}
		}()
		for i := range 2 {
			if err := s.demo.PublishClock(ctx); err != nil {
				t.Fatal(err)
			}
			for got := false; !got; {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("the stream ended before update %d", i+1)
					}
					got = strings.HasPrefix(line, "data: ") && strings.Contains(line, `"notifications/resources/updated"`)
				case <-ctx.Done():
					t.Fatalf("update %d did not arrive on the raw stream", i+1)
				}
			}
		}
		cancel() // ends the request; the reader goroutine exits
		for range lines {
		}
	})
}

// addHoldTool adds to a demo server a tool "hold" that streams a
// progress notification, then runs until it receives from release (a
// value releases one call, closing releases all) or its request is
// cancelled.
func addHoldTool(server *mcp.Server, release <-chan struct{}) {
	mcp.AddTool(server, &mcp.Tool{Name: "hold"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
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
}

// TestProgressStreamsThroughTheFilter calls a tool that sends a progress
// notification and then waits until the test has seen it: the call can
// only finish if the POST's SSE response is streamed through the filter,
// not buffered until the end.
func TestProgressStreamsThroughTheFilter(t *testing.T) {
	for _, protocol := range []string{"", legacyProtocol} {
		t.Run(protocolName(protocol), func(t *testing.T) {
			s := startStack(t, stackOptions{plugin: streamPlugin})
			release := make(chan struct{})
			var releaseOnce sync.Once
			releaseHold := func() { releaseOnce.Do(func() { close(release) }) }
			defer releaseHold()
			addHoldTool(s.demo.MCPServer(), release)
			progress := make(chan float64, 4)
			cs := s.connect(t, clientOptions{protocol: protocol, mcp: &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) { progress <- r.Params.Progress },
			}})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				params := &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}}
				params.SetProgressToken("hold-1")
				res, err := cs.CallTool(ctx, params)
				if err == nil && res.IsError {
					err = &toolError{res}
				}
				done <- err
			}()
			select {
			case p := <-progress:
				if p != 1 {
					t.Errorf("progress %v, want 1", p)
				}
			case err := <-done:
				t.Fatalf("the call ended (%v) before its progress notification arrived", err)
			case <-ctx.Done():
				t.Fatal("the progress notification did not arrive while the call was running: the response was buffered")
			}
			releaseHold()
			if err := <-done; err != nil {
				t.Fatalf("hold: %v", err)
			}
		})
	}
}

// toolError is a tool result with isError set.
type toolError struct{ res *mcp.CallToolResult }

func (e *toolError) Error() string { return "tool error" }
