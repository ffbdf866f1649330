package host

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

// TestCalloutRequestWrite: a callout goes out as the HTTP/1.1 request its
// pseudo-headers describe, with its own headers less the hop-by-hop ones
// and the body's length; a header that would break the request is
// refused before anything is written.
func TestCalloutRequestWrite(t *testing.T) {
	for _, c := range []struct {
		name string
		req  calloutRequest
		want string
		err  error
	}{
		{
			name: "webdis command",
			req: calloutRequest{method: "POST", path: "/", authority: "webdis",
				headers: [][2]string{{":method", "POST"}, {":path", "/"}, {":authority", "webdis"},
					{"content-type", "text/plain"}, {"authorization", "Basic dTpw"}, {"connection", "close"},
					{"content-length", "99"}, {"host", "other"}},
				body: []byte("EVALSHA/abc/0")},
			want: "POST / HTTP/1.1\r\nHost: webdis\r\ncontent-type: text/plain\r\nauthorization: Basic dTpw\r\n" +
				"Content-Length: 13\r\n\r\nEVALSHA/abc/0",
		},
		{
			name: "GET without a body",
			req:  calloutRequest{method: "GET", path: "/health?x=1", authority: "svc", headers: [][2]string{{"x-a", "1"}}},
			want: "GET /health?x=1 HTTP/1.1\r\nHost: svc\r\nx-a: 1\r\n\r\n",
		},
		{
			name: "POST without a body",
			req:  calloutRequest{method: "POST", path: "/", authority: "svc"},
			want: "POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "value with a line break",
			req:  calloutRequest{method: "GET", path: "/", authority: "svc", headers: [][2]string{{"x-a", "1\r\nx-b: 2"}}},
			err:  errBadCalloutHeader,
		},
		{
			name: "path with a space",
			req:  calloutRequest{method: "GET", path: "/ HTTP/1.0", authority: "svc"},
			err:  errBadCalloutHeader,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := c.req.writeTo(bufio.NewWriter(&out))
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if out.String() != c.want {
				t.Errorf("wrote %q\nwant  %q", out.String(), c.want)
			}
		})
	}
}
