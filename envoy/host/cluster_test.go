package host

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
)

// rawUpstream answers each request on a connection with the next reply of
// replies (raw HTTP/1.1 text), then closes the connection when close is
// set for that reply; it counts the connections it accepted.
func rawUpstream(t *testing.T, replies []string, closeAfter []bool) (addr string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int32{}
	var next atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					i := int(next.Add(1) - 1)
					if i >= len(replies) {
						return
					}
					if _, err := io.WriteString(conn, replies[i]); err != nil || closeAfter[i] {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), accepted
}

// TestCalloutConnections: callouts reuse a kept-alive connection, open a
// new one after a "Connection: close" answer, send the request again on a
// new connection when the server had closed the idle one, and refuse a
// body above the limit.
func TestCalloutConnections(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	const closing = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
	const large = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789"
	for _, c := range []struct {
		name         string
		replies      []string
		closeAfter   []bool
		wantAccepted int32
		wantErr      error // of the last call
	}{
		{"kept alive", []string{ok, ok, ok}, []bool{false, false, false}, 1, nil},
		{"connection close", []string{closing, ok, ok}, []bool{true, false, false}, 2, nil},
		{"closed while idle", []string{ok, ok, ok}, []bool{true, false, false}, 2, nil},
		{"above the limit", []string{ok, ok, large}, []bool{false, false, false}, 1, errResponseTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, accepted := rawUpstream(t, c.replies, c.closeAfter)
			cl := newCluster(&envoyconfig.Cluster{Endpoints: []string{addr}, ConnectTimeout: time.Second})
			defer cl.close()
			var err error
			for i := range len(c.replies) {
				req := &calloutRequest{method: http.MethodPost, path: "/", authority: "upstream", body: []byte("PING")}
				var data []byte
				_, data, err = cl.exchange(time.Now().Add(5*time.Second), addr, req, 16)
				if i < len(c.replies)-1 && (err != nil || string(data) != "ok") {
					t.Fatalf("call %d: %q, %v", i, data, err)
				}
				if i == 0 && c.closeAfter[0] {
					// Let the server's close reach this side before the next call.
					time.Sleep(50 * time.Millisecond)
				}
			}
			if !errors.Is(err, c.wantErr) {
				t.Errorf("last call: error %v, want %v", err, c.wantErr)
			}
			if got := accepted.Load(); got != c.wantAccepted {
				t.Errorf("%d connections, want %d", got, c.wantAccepted)
			}
		})
	}
}
