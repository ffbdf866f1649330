package e2e

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf16"
)

// The requests of the differential test: a hand-written corpus of inputs
// that parsers and HTTP stacks are known to read differently, and a
// mutation fuzzer over it.

// diffRequest is one HTTP POST of the differential test.
type diffRequest struct {
	label  string
	method string      // HTTP method; "" is POST
	target string      // request target; "" is /mcp
	header [][2]string // in order, duplicates allowed
	body   []byte
	chunk  int // body chunk size through the host; 0 is the host's default
}

// clone returns a deep copy.
func (r diffRequest) clone() diffRequest {
	r.header = append([][2]string(nil), r.header...)
	r.body = append([]byte(nil), r.body...)
	return r
}

// setHeader replaces every value of name (case-insensitive) with value;
// an empty value removes the header.
func (r *diffRequest) setHeader(name, value string) {
	kept := r.header[:0]
	for _, h := range r.header {
		if !strings.EqualFold(h[0], name) {
			kept = append(kept, h)
		}
	}
	r.header = kept
	if value != "" {
		r.header = append(r.header, [2]string{name, value})
	}
}

// addHeader adds one more value of name.
func (r *diffRequest) addHeader(name, value string) {
	r.header = append(r.header, [2]string{name, value})
}

const (
	acceptBoth = "application/json, text/event-stream"
	jsonType   = "application/json"
)

// post is a request with the headers an MCP client sends and body.
func post(label, body string) diffRequest {
	return diffRequest{label: label, body: []byte(body), header: [][2]string{
		{"Accept", acceptBoth},
		{"Content-Type", jsonType},
	}}
}

// withType is post with another Content-Type ("" sends none).
func withType(label, contentType, body string) diffRequest {
	r := post(label, body)
	r.setHeader("Content-Type", contentType)
	return r
}

// callBody is a tools/call of tool (a JSON string literal's content,
// written as is) with id 1.
func callBody(tool string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
}

// utf7 writes s in UTF-7 (RFC 2152), encoding the runes pick selects in
// base64 of UTF-16BE; '+' is written "+-".
func utf7(s string, pick func(rune) bool) string {
	var b strings.Builder
	runes := []rune(s)
	for i := 0; i < len(runes); {
		r := runes[i]
		switch {
		case r == '+':
			b.WriteString("+-")
			i++
		case pick(r) || r > 0x7f:
			j := i
			for j < len(runes) && (pick(runes[j]) || runes[j] > 0x7f) && runes[j] != '+' {
				j++
			}
			var raw []byte
			for _, u := range utf16.Encode(runes[i:j]) {
				raw = binary.BigEndian.AppendUint16(raw, u)
			}
			b.WriteString("+" + base64.RawStdEncoding.EncodeToString(raw) + "-")
			i = j
		default:
			b.WriteRune(r)
			i++
		}
	}
	return b.String()
}

// encodeUTF16 writes s in UTF-16 (little or big endian), with a BOM when bom.
func encodeUTF16(s string, little, bom bool) []byte {
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xfeff}, units...)
	}
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		if little {
			out = binary.LittleEndian.AppendUint16(out, u)
		} else {
			out = binary.BigEndian.AppendUint16(out, u)
		}
	}
	return out
}

// encodeUTF32 writes s in UTF-32 (little or big endian), with a BOM when bom.
func encodeUTF32(s string, little, bom bool) []byte {
	runes := []rune(s)
	if bom {
		runes = append([]rune{0xfeff}, runes...)
	}
	out := make([]byte, 0, 4*len(runes))
	for _, r := range runes {
		if little {
			out = binary.LittleEndian.AppendUint32(out, uint32(r))
		} else {
			out = binary.BigEndian.AppendUint32(out, uint32(r))
		}
	}
	return out
}

// latin1 writes s in ISO-8859-1 (runes above 0xff become '?').
func latin1(s string) []byte {
	var out []byte
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}

// compress encodes data for a Content-Encoding coding: gzip (and x-gzip),
// deflate (the zlib format HTTP means), raw-deflate (what some clients
// send as "deflate"), br (Brotli, see brotliStored).
func compress(coding string, data []byte) []byte {
	var buf bytes.Buffer
	switch coding {
	case "gzip", "x-gzip":
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(data)
		_ = w.Close()
	case "deflate":
		w := zlib.NewWriter(&buf)
		_, _ = w.Write(data)
		_ = w.Close()
	case "raw-deflate":
		w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
		_, _ = w.Write(data)
		_ = w.Close()
	case "br":
		return brotliStored(data)
	default:
		panic("compress: unknown coding " + coding)
	}
	return buf.Bytes()
}

// brotliStored writes data as a Brotli stream (RFC 7932) of uncompressed
// meta-blocks: the standard library has no Brotli encoder, and a decoder
// must accept this form as any other.
func brotliStored(data []byte) []byte {
	var out []byte
	var acc uint64
	var n uint
	bits := func(v uint64, width uint) {
		acc |= v << n
		n += width
		for n >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	flush := func() {
		if n > 0 {
			out = append(out, byte(acc))
			acc, n = 0, 0
		}
	}
	bits(0, 1) // WBITS = 16
	for len(data) > 0 {
		block := data[:min(len(data), 1<<16)]
		data = data[len(block):]
		bits(0, 1)                     // ISLAST = 0
		bits(0, 2)                     // MNIBBLES = 4
		bits(uint64(len(block)-1), 16) // MLEN - 1
		bits(1, 1)                     // ISUNCOMPRESSED
		flush()                        // the bytes start byte-aligned
		out = append(out, block...)
	}
	bits(1, 1) // ISLAST
	bits(1, 1) // ISLASTEMPTY
	flush()
	return out
}

// pickT selects the runes UTF-7 encodes in the known bypass: the "t" of a
// method or name.
func pickT(r rune) bool { return r == 't' }

// diffCorpus returns the hand-written requests.
func diffCorpus() []diffRequest {
	var c []diffRequest
	add := func(r diffRequest) { c = append(c, r) }

	// Every tool, plainly.
	for _, tool := range []string{"t", "a", "b", "T", "\u00e9", "e\u0301", "\uff54", "+AHQ-"} {
		add(post("plain "+tool, callBody(tool)))
	}

	// Charsets. The known bypass: UTF-7 "t" in the method, then in the
	// tool name and in the member name "name".
	bypass := `{"jsonrpc":"2.0","id":3,"method":"+AHQ-ools/call","params":{"name":"t"}}`
	nameT := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"+AHQ-"}}`
	memberName := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"+AG4-ame":"t"}}`
	charsets := []string{
		"application/json; charset=utf-7", "application/json; charset=UTF-7", `application/json; charset="utf-7"`,
		"application/json; charset=utf-7-imap", "application/json;charset=utf-7", "application/json ; charset=utf-7",
		"application/json; CHARSET=Utf-7", "application/json;  charset=utf-7  ", "application/json; charset=unicode-1-1-utf-7",
		"application/json; charset=csUnicode11UTF7", "application/json; charset=utf-8; charset=utf-7",
		"application/json; charset=utf-7; charset=utf-8", `application/json; foo="; charset=utf-7"`,
		`application/json; foo="x"; charset=utf-7`, "application/json; charset='utf-7'", "application/json; charset=utf-7;",
		"APPLICATION/JSON; charset=utf-7", "application/json; charset=utf8", "application/json; charset=UTF-8",
		`application/json; charset="utf-8"`, "application/json; charset=latin1", "application/json; charset=utf-16",
	}
	for _, ct := range charsets {
		add(withType("bypass method, "+ct, ct, bypass))
		add(withType("bypass name, "+ct, ct, nameT))
		add(withType("bypass member, "+ct, ct, memberName))
	}
	// UTF-7-IMAP (RFC 3501) shifts with "&" instead of "+".
	imap := strings.ReplaceAll(bypass, "+AHQ-", "&AHQ-")
	for _, ct := range []string{"application/json; charset=utf-7-imap", "application/json; charset=UTF-7-IMAP", "application/json; charset=utf7imap"} {
		add(withType("bypass method, imap, "+ct, ct, imap))
		add(withType("bypass name, imap, "+ct, ct, strings.ReplaceAll(nameT, "+AHQ-", "&AHQ-")))
		add(withType("bypass member, imap, "+ct, ct, strings.ReplaceAll(memberName, "+AG4-", "&AG4-")))
	}
	allT := utf7(callBody("t"), pickT)
	add(withType("utf-7 every t", "application/json; charset=utf-7", allT))
	add(withType("utf-7 every t, +json", "application/vnd.api+json; charset=utf-7", allT))
	add(withType("utf-7 plus escape", "application/json; charset=utf-7", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"+-AHQ-"}}`))

	// UTF-16 and UTF-32, with and without BOM, declared or not.
	call := callBody("t")
	for _, v := range []struct {
		label       string
		little, bom bool
		charset     string
	}{
		{"utf-16le", true, false, "utf-16le"}, {"utf-16le bom", true, true, "utf-16le"},
		{"utf-16be", false, false, "utf-16be"}, {"utf-16be bom", false, true, "utf-16be"},
		{"utf-16 bom le", true, true, "utf-16"}, {"utf-16 bom be", false, true, "utf-16"},
		{"utf-16le undeclared", true, false, ""}, {"utf-16be bom undeclared", false, true, ""},
	} {
		ct := jsonType
		if v.charset != "" {
			ct += "; charset=" + v.charset
		}
		r := withType(v.label, ct, "")
		r.body = encodeUTF16(call, v.little, v.bom)
		add(r)
	}
	for _, v := range []struct {
		label       string
		little, bom bool
		charset     string
	}{
		{"utf-32le", true, false, "utf-32le"}, {"utf-32be bom", false, true, "utf-32be"},
		{"utf-32 bom", true, true, "utf-32"}, {"utf-32le undeclared", true, false, ""},
	} {
		ct := jsonType
		if v.charset != "" {
			ct += "; charset=" + v.charset
		}
		r := withType(v.label, ct, "")
		r.body = encodeUTF32(call, v.little, v.bom)
		add(r)
	}
	l1 := withType("latin1 é", "application/json; charset=latin1", "")
	l1.body = latin1(callBody("\u00e9"))
	add(l1)
	l1u := withType("latin1 bytes declared utf-8", "application/json; charset=utf-8", "")
	l1u.body = latin1(callBody("\u00e9"))
	add(l1u)

	// Content-Encoding.
	for _, enc := range []struct{ header, coding string }{
		{"gzip", "gzip"}, {"deflate", "deflate"}, {"br", "br"}, {"x-gzip", "gzip"}, {"GZIP", "gzip"},
		{"deflate", "raw-deflate"}, {" gzip ", "gzip"}, {"gzip;q=1", "gzip"},
	} {
		r := post("content-encoding "+enc.header+" ("+enc.coding+")", "")
		r.body = compress(enc.coding, []byte(callBody("t")))
		r.setHeader("Content-Encoding", enc.header)
		add(r)
	}
	add(func() diffRequest {
		r := post("content-encoding identity", callBody("t"))
		r.setHeader("Content-Encoding", "identity")
		return r
	}())
	for _, list := range []string{"identity, gzip", "gzip, identity", "gzip,gzip", "gzip, deflate"} {
		r := post("content-encoding list "+list, "")
		body := []byte(callBody("t"))
		for _, coding := range strings.Split(list, ",") {
			coding = strings.TrimSpace(coding)
			if coding != "identity" {
				body = compress(coding, body)
			}
		}
		r.body = body
		r.setHeader("Content-Encoding", list)
		add(r)
	}
	dupEnc := post("content-encoding twice", "")
	dupEnc.body = compress("gzip", compress("gzip", []byte(callBody("t"))))
	dupEnc.addHeader("Content-Encoding", "gzip")
	dupEnc.addHeader("Content-Encoding", "gzip")
	add(dupEnc)
	gzUTF7 := post("gzip + utf-7", "")
	gzUTF7.body = compress("gzip", []byte(bypass))
	gzUTF7.setHeader("Content-Type", "application/json; charset=utf-7")
	gzUTF7.setHeader("Content-Encoding", "gzip")
	add(gzUTF7)
	gzInner := post("gzip hides tools/call from a plain read", "")
	gzInner.body = compress("gzip", []byte(callBody("a")))
	gzInner.setHeader("Content-Encoding", "gzip")
	add(gzInner)

	// Content-Type variants.
	for _, pair := range [][2]string{
		{"application/json; charset=utf-7", jsonType}, {jsonType, "application/json; charset=utf-7"},
		{"text/plain", jsonType}, {jsonType, "text/plain"},
	} {
		r := post("two content-types "+pair[0]+" | "+pair[1], bypass)
		r.setHeader("Content-Type", pair[0])
		r.addHeader("Content-Type", pair[1])
		add(r)
	}
	for _, ct := range []string{
		"", "application/vnd.api+json", "application/json-rpc", "text/json", "text/plain", "application/JSON",
		"Application/Json", "application/json, text/plain", "text/plain, application/json", "application/json;",
		"application/json; x", "application/json; =", `application/json; charset="utf-7`, "application/*",
		"*/*", "application/jsonx", " application/json", "application/json\t",
	} {
		add(withType("content-type "+fmt.Sprintf("%q", ct), ct, callBody("t")))
		add(withType("content-type "+fmt.Sprintf("%q", ct)+", bypass", ct, bypass))
	}

	// Escapes in names and values.
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"\u0074ools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0074"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0054"}}`,
		`{"jsonrpc":"2.0","id":1,"\u006dethod":"tools/call","params":{"name":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","p\u0061rams":{"name":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u00e9"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e\u0301"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\uFF54"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"+AHQ\u002d"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t\u0000"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call\u0000","params":{"name":"t"}}`,
	} {
		add(post("escape "+body, body))
	}

	// Duplicate members.
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","\u006dethod":"ping","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"a"}}`,
	} {
		add(post("duplicate "+body, body))
	}

	// Case and Unicode variants of member names and values.
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"METHOD":"tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"méthod":"tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"ｍethod":"tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"ｎame":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"Tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/Call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"ｔools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ｔ"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"é"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"é"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"T"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"nAme":"t","name":"a"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"na\u017fme":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tool\u017f/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":" t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":" tools/call","params":{"name":"t"}}`,
	} {
		add(post("variant "+body, body))
	}

	// BOMs.
	add(post("utf-8 bom", "\ufeff"+callBody("t")))
	add(withType("utf-8 bom, charset utf-8", "application/json; charset=utf-8", "\ufeff"+callBody("t")))
	add(post("bom inside", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+"\ufeff"+`t"}}`))
	add(post("bom after whitespace", " \ufeff"+callBody("t")))

	// Deep nesting.
	for _, depth := range []int{64, 998, 1001, 5000} {
		args := strings.Repeat(`[`, depth) + strings.Repeat(`]`, depth)
		add(post(fmt.Sprintf("arguments nested %d", depth),
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":`+args+`}}}`))
	}

	// Batches.
	for _, body := range []string{
		`[` + callBody("t") + `,` + callBody("a") + `]`,
		`[` + callBody("t") + `,` + strings.Replace(callBody("t"), `"id":1`, `"id":2`, 1) + `]`,
		`[` + callBody("b") + `]`,
		`[{"jsonrpc":"2.0","method":"notifications/initialized"},` + callBody("b") + `]`,
		`[[` + callBody("b") + `]]`,
		`[]`,
		`[` + callBody("t") + `,1]`,
	} {
		add(post("batch "+body, body))
	}

	// Body splits through the host.
	for _, n := range []int{1, 2, 3, 7, 13} {
		r := post(fmt.Sprintf("chunks of %d", n), `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0062"}}`)
		r.chunk = n
		add(r)
	}

	// Ids and numbers.
	for _, id := range []string{`1.0`, `1e2`, `-0`, `1e400`, `"1"`, `true`, `null`, `{}`, `[]`, `9007199254740993`, `-1`, `0.5`, `""`} {
		add(post("id "+id, `{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"a"}}`))
	}
	add(post("no id", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a"}}`))
	add(post("jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"a"}}`))
	add(post("no jsonrpc", `{"id":1,"method":"tools/call","params":{"name":"a"}}`))
	add(post("jsonrpc number", `{"jsonrpc":2.0,"id":1,"method":"tools/call","params":{"name":"a"}}`))

	// Trailing data, comments, NaN.
	for _, body := range []string{
		callBody("t") + callBody("a"),
		callBody("t") + ` x`,
		callBody("t") + "\n",
		callBody("t") + "\x00",
		callBody("t") + ` // c`,
		`/* c */` + callBody("t"),
		`{"jsonrpc":"2.0","id":1,/* c */"method":"tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":NaN,"method":"tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":Infinity}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t",}}`,
		`{'jsonrpc':'2.0','id':1,'method':'tools/call','params':{'name':'t'}}`,
		`{jsonrpc:"2.0",id:1,method:"tools/call",params:{name:"t"}}`,
	} {
		add(post("syntax "+fmt.Sprintf("%q", body), body))
	}

	// Invalid UTF-8 and lone surrogates.
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t` + "\xff" + `"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + "\xc1\xb4" + `"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + "\xef\xbd\xb4" + `"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call` + "\xff" + `","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"me` + "\xff" + `thod":"tools/call","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t` + "\xed\xa0\x80" + `"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t\ud800"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\udc00"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call\ud800","params":{"name":"t"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":"\ud800"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":"` + "\xff" + `"}}}`,
	} {
		add(post("utf-8 "+fmt.Sprintf("%q", body), body))
	}

	// HTTP methods (not GET: the servers answer it with an open SSE
	// stream) and request targets.
	for _, m := range []string{"post", "Post", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		r := post("http method "+m, callBody("t"))
		r.method = m
		add(r)
	}
	for _, target := range diffTargets {
		r := post("target "+target, callBody("a"))
		r.target = target
		add(r)
	}

	// Mirrored Mcp-Method / Mcp-Name headers.
	for _, h := range [][2]string{
		{"Mcp-Method", "tools/call"}, {"Mcp-Name", "t"}, {"Mcp-Name", "a"}, {"Mcp-Method", "tools/list"},
		{"Mcp-Name", "=?base64?dA==?="}, {"Mcp-Protocol-Version", "2026-07-28"},
	} {
		r := post("header "+h[0]+": "+h[1], callBody("t"))
		r.addHeader(h[0], h[1])
		add(r)
	}
	return c
}

// diffTargets are request targets the servers may route to their MCP
// endpoint (the filter's configuration lists the path /mcp).
var diffTargets = []string{
	"/MCP", "/mcp/", "/Mcp", "/mcp?x=1", "/mcp;x", "//mcp", "/./mcp", "/x/../mcp", "/%6dcp", "/%6Dcp", "/mcp%2f",
	"/mcp%3F", "/mc%70", "/%2fmcp", "/mcp/.", "/mcp//", "/mcp?", "/MCP/", "/mcp%00", "/mcp/x", "/mcpx",
}

// mutation tables: tokens found in bodies and what each may become.
var tokenVariants = map[string][]string{
	`"method"`:     {`"Method"`, `"\u006dethod"`, `"m\u0065thod"`, `"méthod"`, `"ｍethod"`, `"method "`, `"+AG0-ethod"`, `"METHOD"`},
	`"tools/call"`: {`"tools\/call"`, `"\u0074ools/call"`, `"Tools/call"`, `"tools/call "`, `"+AHQ-ools/call"`, `"tools/call\u0000"`, `"tools/list"`, `"tools/cal\u006c"`, `"tools/call\ud800"`},
	`"name"`:       {`"Name"`, `"n\u0061me"`, `"+AG4-ame"`, `"nam\u0065"`, `"ｎame"`, `"name\u0000"`},
	`"params"`:     {`"Params"`, `"p\u0061rams"`, `"+AHA-arams"`, `"params "`},
	`"t"`:          {`"\u0074"`, `"T"`, `"+AHQ-"`, `"ｔ"`, `"t\ud800"`, `"\u00e9"`, `"e\u0301"`, `"a"`, `"b"`, `"\uff54"`, `"t\u0000"`},
	`"a"`:          {`"\u0061"`, `"A"`, `"+AGE-"`, `"b"`, `"t"`},
	`"id":1`:       {`"id":1.0`, `"id":"1"`, `"id":null`, `"id":true`, `"id":[1]`, `"id":1e400`},
	`"2.0"`:        {`"2.00"`, `"1.0"`, `2.0`, `"2.0\u0000"`},
	`{`:            {`{"method":"tools/list",`, `{"params":{"name":"a"},`, `{"method":"tools/call",`, `[{`},
	`}`:            {`,"method":"tools/list"}`, `,"params":{"name":"b"}}`, `,"method":"tools/call"}`, `}]`, `,}`},
	`,`:            {` , `, `,,`, "\n,", `/**/,`},
	`:`:            {` : `, `::`, "\t:"},
}

// interestingBytes are inserted or written over body bytes.
var interestingBytes = []string{
	"\x00", "\xff", "\xfe", "\xef\xbb\xbf", "\xc0\xaf", "\xed\xa0\x80", "\\", `"`, "+", "-", "\\u0074", "\\ud800",
	" ", "\t", "\n", "\r", ",", "}", "]", "{", "[", "\u00e9", "e\u0301", "\uff54", "+AHQ-", "/*", "*/",
}

// contentTypes are values the mutator sets Content-Type to.
var contentTypes = []string{
	jsonType, "application/json; charset=utf-8", "application/json; charset=utf-7", "application/json; charset=UTF-7",
	`application/json; charset="utf-7"`, "application/json; charset=utf-7-imap", "application/json; charset=utf-16le",
	"application/json; charset=utf-16be", "application/json; charset=utf-16", "application/json; charset=utf-32",
	"application/json; charset=latin1", "application/json; charset=utf8", "application/json; charset=ascii",
	"application/json; charset=utf-8; charset=utf-7", "application/vnd.api+json", "text/plain", "application/JSON",
	"application/json, text/plain", "application/json;", "", "application/json; charset=", "application/json; charset=cesu-8",
}

// codings are Content-Encoding values the mutator sets (body encoded to
// match, or not).
var codings = []string{"gzip", "deflate", "br", "identity", "x-gzip", "gzip, identity", "identity, gzip", "GZIP", "compress", ""}

// diffMutator derives requests from seeds, deterministically from its PRNG.
type diffMutator struct {
	rng   *rand.Rand
	seeds []diffRequest
}

func newDiffMutator(seed uint64, seeds []diffRequest) *diffMutator {
	return &diffMutator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seeds: seeds}
}

// next returns the i-th mutated request.
func (m *diffMutator) next(i int) diffRequest {
	r := m.seeds[m.rng.IntN(len(m.seeds))].clone()
	n := 1 + m.rng.IntN(3)
	var ops []string
	for range n {
		ops = append(ops, m.mutate(&r))
	}
	r.label = fmt.Sprintf("fuzz #%d from %q: %s", i, r.label, strings.Join(ops, "; "))
	return r
}

// mutate applies one random mutation and describes it.
func (m *diffMutator) mutate(r *diffRequest) string {
	rng := m.rng
	switch rng.IntN(11) {
	case 0, 1, 2: // replace a token with a variant
		var keys []string
		for k := range tokenVariants {
			if bytes.Contains(r.body, []byte(k)) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			break
		}
		slices.Sort(keys)
		k := keys[rng.IntN(len(keys))]
		v := tokenVariants[k][rng.IntN(len(tokenVariants[k]))]
		idx := allIndexes(r.body, []byte(k))
		at := idx[rng.IntN(len(idx))]
		r.body = append(append(append([]byte(nil), r.body[:at]...), v...), r.body[at+len(k):]...)
		return fmt.Sprintf("token %s -> %s at %d", k, v, at)
	case 3: // insert or overwrite bytes
		if len(r.body) == 0 {
			break
		}
		tok := interestingBytes[rng.IntN(len(interestingBytes))]
		at := rng.IntN(len(r.body) + 1)
		if rng.IntN(2) == 0 && at < len(r.body) {
			r.body = append(append(append([]byte(nil), r.body[:at]...), tok...), r.body[min(len(r.body), at+len(tok)):]...)
			return fmt.Sprintf("overwrite %q at %d", tok, at)
		}
		r.body = append(append(append([]byte(nil), r.body[:at]...), tok...), r.body[at:]...)
		return fmt.Sprintf("insert %q at %d", tok, at)
	case 4: // delete or duplicate a span
		if len(r.body) < 2 {
			break
		}
		at := rng.IntN(len(r.body))
		end := min(len(r.body), at+1+rng.IntN(12))
		if rng.IntN(2) == 0 {
			r.body = append(append([]byte(nil), r.body[:at]...), r.body[end:]...)
			return fmt.Sprintf("delete [%d,%d)", at, end)
		}
		span := append([]byte(nil), r.body[at:end]...)
		r.body = append(append(append([]byte(nil), r.body[:end]...), span...), r.body[end:]...)
		return fmt.Sprintf("duplicate [%d,%d)", at, end)
	case 5: // Content-Type
		ct := contentTypes[rng.IntN(len(contentTypes))]
		if rng.IntN(4) == 0 {
			r.addHeader("Content-Type", ct)
			return fmt.Sprintf("add content-type %q", ct)
		}
		r.setHeader("Content-Type", ct)
		return fmt.Sprintf("content-type %q", ct)
	case 6: // Content-Encoding, the body encoded to match or not
		c := codings[rng.IntN(len(codings))]
		encode := rng.IntN(3) != 0
		if encode {
			for _, part := range strings.Split(strings.ToLower(c), ",") {
				switch strings.TrimSpace(part) {
				case "gzip", "x-gzip":
					r.body = compress("gzip", r.body)
				case "deflate", "br":
					r.body = compress(strings.TrimSpace(part), r.body)
				}
			}
		}
		r.setHeader("Content-Encoding", c)
		return fmt.Sprintf("content-encoding %q (body encoded: %v)", c, encode)
	case 7: // transcode the body
		s := string(r.body)
		switch rng.IntN(6) {
		case 0:
			r.body = []byte(utf7(s, pickT))
			return "body in utf-7 (t encoded)"
		case 1:
			r.body = encodeUTF16(s, true, rng.IntN(2) == 0)
			return "body in utf-16le"
		case 2:
			r.body = encodeUTF16(s, false, rng.IntN(2) == 0)
			return "body in utf-16be"
		case 3:
			r.body = encodeUTF32(s, rng.IntN(2) == 0, rng.IntN(2) == 0)
			return "body in utf-32"
		case 4:
			r.body = append([]byte("\xef\xbb\xbf"), r.body...)
			return "utf-8 bom"
		default:
			r.body = latin1(s)
			return "body in latin1"
		}
	case 8: // structure: batch or wrap
		switch rng.IntN(3) {
		case 0:
			r.body = append(append([]byte("["), r.body...), ']')
			return "wrapped in a batch"
		case 1:
			r.body = append(append(append(append([]byte("["), r.body...), ','), r.body...), ']')
			return "batch of two copies"
		default:
			other := callBody([]string{"t", "a", "b"}[rng.IntN(3)])
			r.body = append(append(append(append([]byte("["), r.body...), ','), other...), ']')
			return "batch with " + other
		}
	case 10: // request target
		r.target = diffTargets[rng.IntN(len(diffTargets))]
		return "target " + r.target
	case 9: // chunking
		r.chunk = 1 + rng.IntN(9)
		return fmt.Sprintf("chunks of %d", r.chunk)
	}
	r.chunk = 1 + rng.IntN(5)
	return fmt.Sprintf("chunks of %d", r.chunk)
}

// allIndexes returns every offset of sep in s.
func allIndexes(s, sep []byte) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(s[off:], sep)
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + 1
	}
}
