package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRunRefusesBadArguments(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--upstream", "nameonly"}, "want name=host:port"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--config", "/nonexistent.yaml"}, "nonexistent.yaml"},
		{[]string{"--config", "../../../envoy/local.yaml", "--envoy-version", "1.20"}, "before 1.33"},
		{[]string{"--no-such-flag"}, "not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestRunServesUntilCanceled starts the command on envoy/local.yaml with
// free ports and a test upstream, sends a request through it and stops it.
func TestRunServesUntilCanceled(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }))
	defer up.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{
			"--config", "../../../envoy/local.yaml", "--wasm", "../../../build/mcp-ratelimit.wasm",
			"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1", "--log-level", "error",
			"--upstream", "mcp_server=" + up.Listener.Addr().String(),
		}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner (is build/mcp-ratelimit.wasm built? run `make build`): %v; run: %v", err, <-errc)
	}
	go io.Copy(io.Discard, pr)
	url := strings.Fields(strings.TrimPrefix(line, "listening on "))[0]
	resp, err := http.Get(url + "/other")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello" || resp.Header.Get("Server") != "envoy" {
		t.Fatalf("through the host: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
