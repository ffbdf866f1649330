package demo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connectInMemory connects an SDK client to s over in-memory transports.
func connectInMemory(t *testing.T, s *Server, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	serverTransport, clientTransport := mcp.NewInMemoryTransports()
	ss, err := s.MCPServer().Connect(ctx, serverTransport, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "v0"}, opts).Connect(ctx, clientTransport, nil)
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// structured decodes a tool result's structured content.
func structured[T any](t *testing.T, res *mcp.CallToolResult) T {
	t.Helper()
	var out T
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatalf("marshal structured content: %v", err)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode structured content %s: %v", raw, err)
	}
	return out
}

// resultText joins a tool result's text content.
func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestToolsList(t *testing.T) {
	cs := connectInMemory(t, New(Options{}), nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var got []string
	for _, tool := range res.Tools {
		got = append(got, tool.Name)
		if tool.InputSchema == nil {
			t.Errorf("tool %q has no input schema", tool.Name)
		}
	}
	for _, want := range ToolNames {
		found := false
		for _, name := range got {
			found = found || name == want
		}
		if !found {
			t.Errorf("tools/list = %v, missing %q", got, want)
		}
	}
}

func TestToolCalls(t *testing.T) {
	tests := []struct {
		name      string
		tool      string
		args      map[string]any
		wantError string // substring of the tool error; empty: success
		check     func(t *testing.T, res *mcp.CallToolResult)
	}{
		{
			name: "search finds by every word", tool: ToolSearch, args: map[string]any{"query": "Token REFILL"},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				out := structured[SearchOutput](t, res)
				if len(out.Results) == 0 || out.Results[0].URI != "demo://docs/token-bucket" {
					t.Errorf("results = %+v, want token-bucket first", out.Results)
				}
			},
		},
		{
			name: "search honours limit", tool: ToolSearch, args: map[string]any{"query": "", "limit": 2},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				if out := structured[SearchOutput](t, res); len(out.Results) != 2 {
					t.Errorf("got %d results, want 2", len(out.Results))
				}
			},
		},
		{
			name: "search without match", tool: ToolSearch, args: map[string]any{"query": "kubernetes"},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				if out := structured[SearchOutput](t, res); len(out.Results) != 0 {
					t.Errorf("got %+v, want no result", out.Results)
				}
			},
		},
		{name: "search limit too big", tool: ToolSearch, args: map[string]any{"query": "a", "limit": 21}, wantError: "limit must be between 1 and 20"},
		{name: "search query wrong type", tool: ToolSearch, args: map[string]any{"query": 7}, wantError: "query"},
		{
			name: "fetch", tool: ToolFetch, args: map[string]any{"uri": "demo://docs/envoy"},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				out := structured[FetchOutput](t, res)
				if out.Title != "Envoy" || !strings.Contains(out.Text, "HTTP filters") {
					t.Errorf("fetch = %+v", out)
				}
			},
		},
		{name: "fetch unknown", tool: ToolFetch, args: map[string]any{"uri": "demo://nope"}, wantError: `no document with URI "demo://nope"`},
		{
			name: "echo", tool: ToolEcho, args: map[string]any{"text": "héllo"},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				if out := structured[EchoOutput](t, res); out.Text != "héllo" {
					t.Errorf("echo = %q", out.Text)
				}
			},
		},
		{name: "echo too long", tool: ToolEcho, args: map[string]any{"text": strings.Repeat("x", MaxEchoBytes+1)}, wantError: "at most 65536 bytes"},
		{
			name: "add", tool: ToolAdd, args: map[string]any{"a": 2.5, "b": -1},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				if out := structured[AddOutput](t, res); out.Sum != 1.5 {
					t.Errorf("sum = %v, want 1.5", out.Sum)
				}
			},
		},
		{name: "add missing field", tool: ToolAdd, args: map[string]any{"a": "one"}, wantError: "a"},
		{
			name: "countdown without progress token", tool: ToolCountdown, args: map[string]any{"from": 3},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				if out := structured[CountdownOutput](t, res); out.Steps != 3 {
					t.Errorf("steps = %d, want 3", out.Steps)
				}
			},
		},
		{name: "countdown zero", tool: ToolCountdown, args: map[string]any{"from": 0}, wantError: "from must be between 1 and 100"},
		{name: "countdown interval too long", tool: ToolCountdown, args: map[string]any{"from": 1, "intervalMs": 5001}, wantError: "intervalMs must be between 0 and 5000"},
	}
	s := New(Options{})
	cs := connectInMemory(t, s, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Calls(tt.tool)
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
			if err != nil {
				t.Fatalf("tools/call %s: %v", tt.tool, err)
			}
			if got := s.Calls(tt.tool) - before; got != 1 {
				t.Errorf("Calls(%q) grew by %d, want 1", tt.tool, got)
			}
			if tt.wantError != "" {
				if !res.IsError || !strings.Contains(resultText(res), tt.wantError) {
					t.Fatalf("result = (isError %v) %q, want an error containing %q", res.IsError, resultText(res), tt.wantError)
				}
				return
			}
			if res.IsError {
				t.Fatalf("tool error: %s", resultText(res))
			}
			tt.check(t, res)
		})
	}
}

func TestCallCountingBoundsUnknownNames(t *testing.T) {
	s := New(Options{})
	cs := connectInMemory(t, s, nil)
	for _, name := range []string{"no-such-tool", "another-one"} {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name})
		if err == nil {
			t.Fatalf("tools/call %q succeeded, want an unknown-tool error", name)
		}
	}
	if got := s.TotalCalls(); got != 2 {
		t.Errorf("TotalCalls = %d, want 2", got)
	}
	if got := s.Calls("no-such-tool"); got != 0 {
		t.Errorf("Calls(unknown) = %d, want 0 (unknown names share one counter)", got)
	}
	s.mu.Lock()
	size := len(s.calls)
	s.mu.Unlock()
	if size != len(ToolNames) {
		t.Errorf("call table has %d entries, want %d", size, len(ToolNames))
	}
}

func TestCountdownStreamsProgress(t *testing.T) {
	var mu sync.Mutex
	var progress []float64
	cs := connectInMemory(t, New(Options{}), &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, req.Params.Progress)
		},
	})
	params := &mcp.CallToolParams{Name: ToolCountdown, Arguments: map[string]any{"from": 3}}
	params.SetProgressToken("count-1")
	res, err := cs.CallTool(context.Background(), params)
	if err != nil || res.IsError {
		t.Fatalf("countdown: %v %v", err, res)
	}
	// Progress notifications are sent before the result, but the client may
	// dispatch them concurrently with the response: poll briefly.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(progress)
		got := append([]float64(nil), progress...)
		mu.Unlock()
		if n == 3 {
			for i, p := range got {
				if p != float64(i+1) {
					t.Errorf("progress[%d] = %v, want %d", i, p, i+1)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d progress notifications, want 3", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestResourcesAndPrompt(t *testing.T) {
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cs := connectInMemory(t, New(Options{Now: func() time.Time { return fixed }}), nil)
	ctx := context.Background()

	tests := []struct {
		uri, want string
	}{
		{ClockURI, "2026-01-02T03:04:05Z"},
		{"demo://docs/retry-after", "Retry-After tells a client"},
	}
	for _, tt := range tests {
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: tt.uri})
		if err != nil {
			t.Fatalf("resources/read %s: %v", tt.uri, err)
		}
		if len(res.Contents) != 1 || !strings.HasPrefix(res.Contents[0].Text, tt.want) {
			t.Errorf("resources/read %s = %+v, want text starting %q", tt.uri, res.Contents, tt.want)
		}
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://docs/missing"}); err == nil {
		t.Error("resources/read of a missing document succeeded")
	}

	prompt, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: PromptSummarize, Arguments: map[string]string{"uri": "demo://docs/envoy"}})
	if err != nil {
		t.Fatalf("prompts/get: %v", err)
	}
	if len(prompt.Messages) != 2 || prompt.Description != "Summarize Envoy" {
		t.Errorf("prompt = %+v", prompt)
	}
	if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: PromptSummarize, Arguments: map[string]string{"uri": "x"}}); err == nil {
		t.Error("prompts/get with an unknown document succeeded")
	}
}

// TestStreamableHTTP drives the demo over real HTTP with a legacy (2025-11-25)
// session, which opens the standalone GET stream, and checks that clock
// updates arrive on it and that the counters follow.
func TestStreamableHTTP(t *testing.T) {
	s := New(Options{})
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	defer s.Close()

	resp, err := http.Get(hs.URL + HealthPath)
	if err != nil {
		t.Fatalf("GET %s: %v", HealthPath, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET %s = %d %q", HealthPath, resp.StatusCode, body)
	}

	updates := make(chan string, 16)
	client := mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "v0"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			updates <- req.Params.URI
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL + DefaultPath}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: ClockURI}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	for s.OpenStreams() != 1 {
		if ctx.Err() != nil {
			t.Fatalf("standalone SSE stream never opened (open %d)", s.OpenStreams())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 2 {
		if err := s.PublishClock(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case uri := <-updates:
			if uri != ClockURI {
				t.Errorf("update %d for %q, want %q", i, uri, ClockURI)
			}
		case <-ctx.Done():
			t.Fatalf("update %d never arrived", i)
		}
	}
	if got := s.StreamsOpened(); got != 1 {
		t.Errorf("StreamsOpened = %d, want 1 (the stream stayed open)", got)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolAdd, Arguments: AddInput{A: 1, B: 2}})
	if err != nil || res.IsError {
		t.Fatalf("add over HTTP: %v %+v", err, res)
	}
	if got := s.Calls(ToolAdd); got != 1 {
		t.Errorf("Calls(add) = %d, want 1", got)
	}
	if err := cs.Close(); err != nil {
		t.Errorf("client close: %v", err)
	}
	for s.OpenStreams() != 0 {
		if ctx.Err() != nil {
			t.Fatalf("standalone SSE stream still open after the client closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	s := New(Options{Path: "/other"})
	if s.Path() != "/other" {
		t.Fatalf("Path = %q", s.Path())
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "v0"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: hs.URL + "/other", MaxRetries: -1}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	for s.OpenStreams() != 1 {
		if ctx.Err() != nil {
			t.Fatal("standalone SSE stream never opened")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for s.OpenStreams() != 0 {
		if ctx.Err() != nil {
			t.Fatal("Close left the SSE stream open")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
