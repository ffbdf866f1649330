package demo

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestStartsSession(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, true},
		{"  \n" + `{"method":"initialize"}`, true},
		{`[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":1,"method":"initialize"}]`, true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"initialize"}}`, false},
		{`{"jsonrpc":"2.0","id":1,"Method":"initialize"}`, false}, // the SDK reads member names case-sensitively
		{`{"method":7}`, false},
		{`[{"method":"tools/list"}]`, false},
		{`[1,2]`, false},
		{`not json`, false},
		{``, false},
		{`[`, false},
	}
	for _, tt := range tests {
		if got := startsSession([]byte(tt.body)); got != tt.want {
			t.Errorf("startsSession(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

// postJSON POSTs a JSON-RPC body the way an MCP client does.
func postJSON(t *testing.T, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp, string(data)
}

func TestRouting(t *testing.T) {
	s := New(Options{})
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	defer s.Close()
	url := hs.URL + DefaultPath
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`

	t.Run("one POST calls a tool without a session", func(t *testing.T) {
		resp, body := postJSON(t, url, call, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"id":7`) || !strings.Contains(body, `{"text":"hi"}`) {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
		if sid := resp.Header.Get(sessionIDHeader); sid != "" {
			t.Errorf("stateless answer set %s %q", sessionIDHeader, sid)
		}
	})
	t.Run("initialize starts a session", func(t *testing.T) {
		resp, body := postJSON(t, url, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}`, nil)
		sid := resp.Header.Get(sessionIDHeader)
		if resp.StatusCode != http.StatusOK || sid == "" || !strings.Contains(body, `"protocolVersion":"2025-06-18"`) {
			t.Fatalf("status %d session %q body %s", resp.StatusCode, sid, body)
		}
		resp, body = postJSON(t, url, call, map[string]string{sessionIDHeader: sid, "Mcp-Protocol-Version": "2025-06-18"})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `{"text":"hi"}`) {
			t.Fatalf("call in session: status %d body %s", resp.StatusCode, body)
		}
	})
	t.Run("unknown session is 404", func(t *testing.T) {
		resp, _ := postJSON(t, url, call, map[string]string{sessionIDHeader: "no-such-session"})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
	})
	t.Run("oversized body is 413", func(t *testing.T) {
		resp, _ := postJSON(t, url, `{"x":"`+strings.Repeat("a", mcp.DefaultMaxRequestBodyBytes)+`"}`, nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("invalid JSON is refused", func(t *testing.T) {
		resp, _ := postJSON(t, url, `{"jsonrpc":`, nil)
		if resp.StatusCode < 400 {
			t.Fatalf("status %d, want an error status", resp.StatusCode)
		}
	})
}

// TestClientProtocols connects the SDK client with each protocol version it
// speaks and checks that tools work and that clock updates reach the
// subscriber: on the GET stream for sessions, on subscriptions/listen for
// 2026-07-28.
func TestClientProtocols(t *testing.T) {
	tests := []struct {
		version    string // "" is the SDK default, 2026-07-28
		wantGET    bool
		wantLatest string
	}{
		{version: "", wantGET: false, wantLatest: "2026-07-28"},
		{version: "2025-11-25", wantGET: true, wantLatest: "2025-11-25"},
		{version: "2025-06-18", wantGET: true, wantLatest: "2025-06-18"},
	}
	for _, tt := range tests {
		t.Run("version "+tt.wantLatest, func(t *testing.T) {
			s := New(Options{})
			hs := httptest.NewServer(s.Handler())
			defer hs.Close()
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			updates := make(chan string, 64)
			client := mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "v0"}, &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
					updates <- req.Params.URI
				},
			})
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL + DefaultPath}, &mcp.ClientSessionOptions{ProtocolVersion: tt.version})
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()
			if got := cs.InitializeResult().ProtocolVersion; got != tt.wantLatest {
				t.Errorf("negotiated %q, want %q", got, tt.wantLatest)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolEcho, Arguments: EchoInput{Text: "x"}})
			if err != nil || res.IsError {
				t.Fatalf("echo: %v %+v", err, res)
			}
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: ClockURI}); err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			// The subscription may be registered asynchronously (the
			// listen stream): publish until an update arrives.
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
		wait:
			for {
				if err := s.PublishClock(ctx); err != nil {
					t.Fatal(err)
				}
				select {
				case uri := <-updates:
					if uri != ClockURI {
						t.Fatalf("update for %q", uri)
					}
					break wait
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("no clock update arrived")
				}
			}
			if got := s.StreamsOpened() > 0; got != tt.wantGET {
				t.Errorf("standalone GET stream opened = %v, want %v", got, tt.wantGET)
			}
		})
	}
}
