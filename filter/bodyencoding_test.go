package filter_test

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

const (
	msgCharset   = "Unsupported charset in Content-Type: the body must be UTF-8 JSON"
	msgMalformed = "Malformed Content-Type header"
	msgEncoding  = "Unsupported Content-Encoding: the body must not be compressed"
	msgTransfer  = "Unsupported Transfer-Encoding"
	msgDuplicate = "More than one Content-Type or Content-Encoding header"
)

func TestBodyEncodingVerdicts(t *testing.T) {
	ct := func(v string) [][2]string { return [][2]string{{"content-type", v}} }
	cases := []struct {
		name    string
		headers [][2]string
		want    string
	}{
		{"no content-type", nil, ""},
		{"plain JSON", ct("application/json"), ""},
		{"utf-8", ct("application/json; charset=utf-8"), ""},
		{"UTF-8 quoted", ct(`application/json;charset="UTF-8"`), ""},
		{"OWS around parameters", ct(" application/json \t;\t charset=Utf-8 ; "), ""},
		{"empty parameters", ct("application/json;;charset=utf-8;"), ""},
		{"other parameter", ct(`application/json; profile="https://x.example/a;b,c"`), ""},
		{"+json type", ct("application/vnd.api+json; charset=utf-8"), ""},
		{"not JSON at all", ct("text/plain"), ""},
		{"upper-case header name", [][2]string{{"Content-Type", "application/json"}}, ""},

		{"utf-7", ct("application/json; charset=utf-7"), msgCharset},
		{"UTF-7", ct("application/json; charset=UTF-7"), msgCharset},
		{"quoted utf-7", ct(`application/json; charset="utf-7"`), msgCharset},
		{"escaped quoted utf-7", ct(`application/json; charset="utf\-7"`), msgCharset},
		{"utf-7-imap", ct("application/json; charset=utf-7-imap"), msgCharset},
		{"utf-16le", ct("application/json; charset=utf-16le"), msgCharset},
		{"utf-32", ct("application/json; charset=utf-32"), msgCharset},
		{"latin1", ct("application/json; charset=iso-8859-1"), msgCharset},
		{"utf8 without dash", ct("application/json; charset=utf8"), msgCharset},
		{"empty quoted charset", ct(`application/json; charset=""`), msgCharset},
		{"upper-case name", ct("application/json; CHARSET=utf-7"), msgCharset},
		{"charset twice", ct("application/json; charset=utf-8; charset=utf-7"), msgCharset},
		{"utf-8 twice", ct("application/json; charset=utf-8; charset=utf-8"), msgCharset},
		{"RFC 2231 charset", ct("application/json; charset*=utf-7''"), msgCharset},
		{"+json with utf-7", ct("application/vnd.api+json; charset=utf-7"), msgCharset},
		{"text/plain with utf-7", ct(`text/plain; x="application/json"; charset=utf-7`), msgCharset},

		{"whitespace around =", ct("application/json; charset = utf-7"), msgMalformed},
		{"no subtype", ct("application; charset=utf-7"), msgMalformed},
		{"empty subtype", ct("application/"), msgMalformed},
		{"empty", ct(""), msgMalformed},
		{"comma-joined types", ct("application/json,application/json; charset=utf-7"), msgMalformed},
		{"unclosed quote", ct(`application/json; a="x; charset=utf-7`), msgMalformed},
		{"parameter without value", ct("application/json; charset"), msgMalformed},
		{"non-ASCII in token", ct("application/jsön"), msgMalformed},
		{"control byte in quoted", ct("application/json; a=\"\x01\""), msgMalformed},

		{"identity", [][2]string{{"content-encoding", "identity"}}, ""},
		{"IDENTITY", [][2]string{{"content-encoding", " IDENTITY "}}, ""},
		{"empty encoding", [][2]string{{"content-encoding", ""}}, ""},
		{"gzip", [][2]string{{"content-encoding", "gzip"}}, msgEncoding},
		{"x-gzip", [][2]string{{"content-encoding", "x-gzip"}}, msgEncoding},
		{"deflate", [][2]string{{"content-encoding", "deflate"}}, msgEncoding},
		{"br", [][2]string{{"content-encoding", "br"}}, msgEncoding},
		{"list", [][2]string{{"content-encoding", "identity, gzip"}}, msgEncoding},
		{"chunked transfer", [][2]string{{"transfer-encoding", "chunked"}}, ""},
		{"gzip transfer", [][2]string{{"transfer-encoding", "gzip, chunked"}}, msgTransfer},

		{"two content-types", [][2]string{{"content-type", "application/json"}, {"content-type", "application/json"}}, msgDuplicate},
		{"two content-encodings", [][2]string{{"content-encoding", "identity"}, {"content-encoding", "identity"}}, msgDuplicate},
		{"two content-types, one bad", [][2]string{{"content-type", "application/json"}, {"content-type", "text/plain; charset=utf-7"}}, msgDuplicate},
	}
	for _, c := range cases {
		if got := filter.BodyEncodingMessage(c.headers); got != c.want {
			t.Errorf("%s: %q: got %q, want %q", c.name, c.headers, got, c.want)
		}
	}
}

// TestBodyEncodingBypassIsRefused replays a tools/call hidden by its
// charset (UTF-7 "+AHQ-" is "t"), which a server decoding the declared
// charset runs, and checks it is refused at the request headers with 415
// and counted, never forwarded; UTF-8 variants are still limited.
func TestBodyEncodingBypassIsRefused(t *testing.T) {
	hidden := []struct {
		name        string
		contentType string
		body        string
	}{
		{"method", "application/json; charset=utf-7", `{"jsonrpc":"2.0","id":3,"method":"+AHQ-ools/call","params":{"name":"t"}}`},
		{"method, UTF-7", "application/json; charset=UTF-7", `{"jsonrpc":"2.0","id":3,"method":"+AHQ-ools/call","params":{"name":"t"}}`},
		{"method, quoted", `application/json; charset="utf-7"`, `{"jsonrpc":"2.0","id":3,"method":"+AHQ-ools/call","params":{"name":"t"}}`},
		{"method, utf-7-imap", "application/json; charset=utf-7-imap", `{"jsonrpc":"2.0","id":3,"method":"&AHQ-ools/call","params":{"name":"t"}}`},
		{"tool name", "application/json; charset=utf-7", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"+AHQ-"}}`},
		{"member name", "application/json; charset=utf-7", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"+AG4-ame":"t"}}`},
	}
	forEachVM(t, func(t *testing.T, newVM func() types.VMContext) {
		e := startFilter(t, newVM(), `{"shared":{"maxTokens":1,"refillPeriod":"1h"},"tools":[{"name":"t","shared":{"maxTokens":1,"refillPeriod":"1h"}}]}`)
		for _, c := range hidden {
			o := e.send(request{headers: [][2]string{{"content-type", c.contentType}}, body: c.body})
			if o.headersAction != types.ActionPause {
				t.Errorf("%s: headers action = %v, want Pause with a local reply", c.name, o.headersAction)
			}
			expectReply(t, o, c.name, 415, `"code":-32600`, msgCharset)
		}
		gz := e.send(request{headers: [][2]string{{"content-encoding", "gzip"}}, body: "\x1f\x8b\x08\x00"})
		expectReply(t, gz, "gzip body", 415, msgEncoding)
		dup := e.send(request{headers: [][2]string{{"content-type", "application/json"}, {"content-type", "application/json; charset=utf-7"}},
			body: toolsCall("6", "t")})
		expectReply(t, dup, "two content-types", 415, msgDuplicate)
		if got, want := e.counter(metricName("requests.unsupported_encoding")), uint64(len(hidden)+2); got != want {
			t.Errorf("unsupported_encoding = %d, want %d", got, want)
		}
		// UTF-8 declared in any spelling is read and limited as usual.
		utf8 := [][2]string{{"content-type", `application/json; charset="UTF-8"`}}
		expectForwarded(t, e.send(request{headers: utf8, body: toolsCall("7", "t")}), "UTF-8 tools/call")
		expectReply(t, e.send(request{headers: utf8, body: toolsCall("8", "t")}), "second UTF-8 tools/call", 429)
	})
}
