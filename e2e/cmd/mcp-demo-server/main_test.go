package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			if c.addr != "127.0.0.1:8080" || c.path != "/mcp" || c.tick != 0 || c.jsonResponse {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "all flags", args: []string{"--addr", "127.0.0.1:0", "--path", "/x", "--tick", "2s", "--json-response", "--log-level", "debug"},
			check: func(t *testing.T, c config) {
				if c.addr != "127.0.0.1:0" || c.path != "/x" || c.tick != 2*time.Second || !c.jsonResponse || c.logLevel.String() != "DEBUG" {
					t.Errorf("parsed = %+v", c)
				}
			}},
		{name: "bad addr", args: []string{"--addr", "8080"}, wantErr: "--addr"},
		{name: "bad path", args: []string{"--path", "mcp"}, wantErr: `--path must start with /, got "mcp"`},
		{name: "negative tick", args: []string{"--tick", "-1s"}, wantErr: "--tick must not be negative"},
		{name: "bad level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "unknown flag", args: []string{"--port", "1"}, wantErr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			tt.check(t, c)
		})
	}
}

// TestRunServesAndShutsDown starts the command on a free port, calls a tool
// with the SDK client, keeps a GET stream open (which must not hold up the
// shutdown), and stops it.
func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--tick", "10ms"}, stdoutW, io.Discard)
		stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the URL line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
	url := strings.TrimSpace(line)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/mcp") {
		t.Fatalf("URL line = %q", line)
	}

	callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
	defer callCancel()
	updates := make(chan struct{}, 1)
	client := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "v0"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(context.Context, *mcp.ResourceUpdatedNotificationRequest) {
			select {
			case updates <- struct{}{}:
			default:
			}
		},
	})
	cs, err := client.Connect(callCtx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: demo.ToolAdd, Arguments: demo.AddInput{A: 40, B: 2}})
	if err != nil || res.IsError {
		t.Fatalf("add: %v %+v", err, res)
	}
	if err := cs.Subscribe(callCtx, &mcp.SubscribeParams{URI: demo.ClockURI}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	select {
	case <-updates: // --tick publishes to the subscriber
	case <-callCtx.Done():
		t.Fatal("no clock update from --tick")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestRunRefusesBusyAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--addr", "127.0.0.1:0"}, stdoutW, io.Discard); stdoutW.Close() }()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the URL line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
	addr := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "http://"), "/mcp")

	err = run(context.Background(), []string{"--addr", addr}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "listening on "+addr) {
		t.Errorf("second run on %s: err = %v, want a listen error", addr, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("first run: %v", err)
	}
}
