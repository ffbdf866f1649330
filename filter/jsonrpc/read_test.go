package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// call builds a tools/call request body for tool name.
func call(id, name string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + name + `","arguments":{}}}`
}

// nested returns a value nested depth levels deep in arrays.
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func toolsCall(id, name string) Request {
	r := Request{Method: MethodToolsCall, ToolName: name, HasToolName: true, Name: name, HasName: true}
	if id != "" {
		r.ID = []byte(id)
	}
	return r
}

// readAcceptTests are bodies Read accepts (each also seeds FuzzRead).
var readAcceptTests = []struct {
	name string
	body string
	want []Request // one element unless batch
}{
	{"small tools/call", call("1", "search"), []Request{toolsCall("1", "search")}},
	{"string id", call(`"a-1"`, "search"), []Request{toolsCall(`"a-1"`, "search")}},
	{"string id with escapes kept raw", call(`"a\"\u0041"`, "x"), []Request{toolsCall(`"a\"\u0041"`, "x")}},
	{"null id is kept as null", call("null", "x"), []Request{toolsCall("null", "x")}},
	{"object id kept byte for byte", call(`{ "a" : [1, 2] }`, "x"), []Request{toolsCall(`{ "a" : [1, 2] }`, "x")}},
	{"huge number id", call("1e400", "x"), []Request{toolsCall("1e400", "x")}},
	{"long digits id", call(strings.Repeat("9", 400), "x"), []Request{toolsCall(strings.Repeat("9", 400), "x")}},
	{"whitespace around id", `{"id"  :  7  ,"method":"tools/call","params":{"name":"a"}}`, []Request{toolsCall("7", "a")}},
	{"notification has no id", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a"}}`, []Request{toolsCall("", "a")}},
	{"members in any order", `{"params":{"arguments":{"q":1},"name":"s"},"method":"tools/call","id":3,"jsonrpc":"2.0"}`, []Request{toolsCall("3", "s")}},
	{"surrounding whitespace", " \t\r\n" + call("1", "a") + " \n", []Request{toolsCall("1", "a")}},
	{"escaped slash in method", `{"id":1,"method":"tools\/call","params":{"name":"a"}}`, []Request{toolsCall("1", "a")}},
	{"unicode escape in method", `{"id":1,"method":"\u0074ools/call","params":{"name":"a"}}`, []Request{toolsCall("1", "a")}},
	{"escaped member names", `{"\u0069d":1,"\u006dethod":"tools/call","p\u0061rams":{"n\u0061me":"a"}}`, []Request{toolsCall("1", "a")}},
	{"escaped tool name", `{"id":1,"method":"tools/call","params":{"name":"se\u0061rch"}}`, []Request{toolsCall("1", "search")}},
	{"surrogate pair in tool name", `{"id":1,"method":"tools/call","params":{"name":"\ud83d\ude00"}}`, []Request{toolsCall("1", "😀")}},
	{"raw UTF-8 tool name", `{"id":1,"method":"tools/call","params":{"name":"überprüfen"}}`, []Request{toolsCall("1", "überprüfen")}},
	{"long escaped tool name", `{"id":1,"method":"tools/call","params":{"name":"` + strings.Repeat(`\u0061`, 100) + `"}}`, []Request{toolsCall("1", strings.Repeat("a", 100))}},
	{"empty tool name", `{"id":1,"method":"tools/call","params":{"name":""}}`, []Request{toolsCall("1", "")}},
	{"tools/call without params", `{"id":1,"method":"tools/call"}`, []Request{{Method: MethodToolsCall, ID: []byte("1")}}},
	{"tools/call with params array", `{"id":1,"method":"tools/call","params":["a"]}`, []Request{{Method: MethodToolsCall, ID: []byte("1")}}},
	{"tools/call with params null", `{"id":1,"method":"tools/call","params":null}`, []Request{{Method: MethodToolsCall, ID: []byte("1")}}},
	{"tools/call without name", `{"id":1,"method":"tools/call","params":{"arguments":{}}}`, []Request{{Method: MethodToolsCall, ID: []byte("1")}}},
	{"tools/call with number name", `{"id":1,"method":"tools/call","params":{"name":5}}`, []Request{{Method: MethodToolsCall, ID: []byte("1")}}},
	{"tools/call with null name", `{"id":1,"method":"tools/call","params":{"name":null}}`, []Request{{Method: MethodToolsCall, ID: []byte("1")}}},
	{"tools/call with object name", `{"id":1,"method":"tools/call","params":{"name":{"name":"a"}}}`, []Request{{Method: MethodToolsCall, ID: []byte("1")}}},
	{"tools/list ignores params", `{"id":1,"method":"tools/list","params":{"name":"a","Name":"b","name":"c"}}`, []Request{{Method: "tools/list", ID: []byte("1")}}},
	{"prompts/get has a name but no tool", `{"id":1,"method":"prompts/get","params":{"name":"summarize"}}`, []Request{{Method: "prompts/get", ID: []byte("1"), Name: "summarize", HasName: true}}},
	{"resources/read names its uri", `{"id":1,"method":"resources/read","params":{"uri":"demo://docs/a","name":"x"}}`, []Request{{Method: "resources/read", ID: []byte("1"), Name: "demo://docs/a", HasName: true}}},
	{"resources/read without uri", `{"id":1,"method":"resources/read","params":{}}`, []Request{{Method: "resources/read", ID: []byte("1")}}},
	{"initialize with nested names", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","Name":"d","version":"1"}}}`, []Request{{Method: "initialize", ID: []byte("0")}}},
	{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, []Request{{Method: "notifications/initialized"}}},
	{"unknown method is copied", `{"id":1,"method":"x/custom","params":{"name":"a"}}`, []Request{{Method: "x/custom", ID: []byte("1")}}},
	{"empty method", `{"id":1,"method":""}`, []Request{{Method: "", ID: []byte("1")}}},
	{"response has no method", `{"jsonrpc":"2.0","id":4,"result":{"content":[]}}`, []Request{{ID: []byte("4")}}},
	{"any jsonrpc value", `{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"a"}}`, []Request{toolsCall("1", "a")}},
	{"odd content in arguments", "{\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"k\":\"\xff\\ud800\",\"k\":1,\"Name\":\"b\",\"name\":\"c\",\"method\":\"x\"}}}", []Request{toolsCall("1", "a")}},
	{"other params members", `{"id":1,"method":"tools/call","params":{"_meta":{"progressToken":1},"name":"a","task":{}}}`, []Request{toolsCall("1", "a")}},
	{"nesting at the limit", `{"id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":` + nested(MaxDepth-3) + `}}}`, []Request{toolsCall("1", "a")}},
	{"brackets inside strings do not nest", `{"id":1,"method":"tools/call","params":{"name":"a","arguments":"` + strings.Repeat("[{", 2000) + `"}}`, []Request{toolsCall("1", "a")}},
	{"escaped quotes and backslashes", `{"id":"\\","method":"tools/call","params":{"arguments":"\"}\\\"","name":"a\\\""}}`, []Request{toolsCall(`"\\"`, `a\"`)}},
	{"many params members", `{"id":1,"method":"tools/call","params":{` + manyMembers(40) + `,"name":"a"}}`, []Request{toolsCall("1", "a")}},
	{"many top-level members", `{` + manyMembers(40) + `,"id":1,"method":"tools/call","params":{"name":"a"}}`, []Request{toolsCall("1", "a")}},
}

func TestReadAccepts(t *testing.T) {
	tests := readAcceptTests
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Read([]byte(tt.body))
			if err != nil {
				t.Fatalf("Read(%q) = error %v, want success", tt.body, err)
			}
			if msg.Batch {
				t.Errorf("Batch = true, want false")
			}
			if !reflect.DeepEqual(msg.Requests, tt.want) {
				t.Errorf("Read(%q)\n got %+v\nwant %+v", tt.body, msg.Requests, tt.want)
			}
		})
	}
}

// manyMembers returns n distinct members "k0":0,"k1":1,...
func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":0`)
	}
	return b.String()
}

// readBatchTests are batches Read accepts.
var readBatchTests = []struct {
	name string
	body string
	want []Request
}{
	{"two calls", `[` + call("1", "a") + `,` + call("2", "b") + `]`, []Request{toolsCall("1", "a"), toolsCall("2", "b")}},
	{"mixed", ` [ {"jsonrpc":"2.0","method":"notifications/initialized"} , ` + call(`"x"`, "a") + ` ] `, []Request{{Method: "notifications/initialized"}, toolsCall(`"x"`, "a")}},
	{"single element", `[{"id":1,"method":"tools/list"}]`, []Request{{Method: "tools/list", ID: []byte("1")}}},
	{"at the length limit", "[" + strings.TrimSuffix(strings.Repeat(`{"method":"ping"},`, MaxBatchLength), ",") + "]", repeatRequest(Request{Method: "ping"}, MaxBatchLength)},
}

func TestReadBatch(t *testing.T) {
	tests := readBatchTests
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Read([]byte(tt.body))
			if err != nil {
				t.Fatalf("Read = error %v, want success", err)
			}
			if !msg.Batch {
				t.Errorf("Batch = false, want true")
			}
			if !reflect.DeepEqual(msg.Requests, tt.want) {
				t.Errorf("Read(%.200q)\n got %+v\nwant %+v", tt.body, msg.Requests, tt.want)
			}
		})
	}
}

func repeatRequest(r Request, n int) []Request {
	out := make([]Request, n)
	for i := range out {
		out[i] = r
	}
	return out
}

const (
	parse   = CodeParseError
	invalid = CodeInvalidRequest
)

// long is a name one byte too long.
var long = strings.Repeat("a", MaxNameBytes+1)

// readRefuseTests are bodies Read refuses.
var readRefuseTests = []struct {
	name     string
	body     string
	code     int
	contains string // a part of the message
	id       string // the raw id the error carries, "" for nil
}{
	// Not JSON.
	{"empty", "", parse, "empty", ""},
	{"only whitespace", " \n\t\r ", parse, "empty", ""},
	{"byte order mark", "\xEF\xBB\xBF" + call("1", "a"), parse, "byte order mark", ""},
	{"truncated", `{"id":1,"method":"tools/call"`, parse, "not valid JSON", ""},
	{"two objects", `{"method":"tools/list"}{"method":"tools/call"}`, parse, "not valid JSON", ""},
	{"two objects with space", `{"method":"tools/list"} {"method":"tools/call"}`, parse, "not valid JSON", ""},
	{"trailing garbage", call("1", "a") + " x", parse, "not valid JSON", ""},
	{"trailing comma", `{"id":1,"method":"tools/call",}`, parse, "not valid JSON", ""},
	{"comment", `{"id":1,/*c*/"method":"tools/call"}`, parse, "not valid JSON", ""},
	{"single quotes", `{'method':'tools/call'}`, parse, "not valid JSON", ""},
	{"unquoted name", `{method:"tools/call"}`, parse, "not valid JSON", ""},
	{"NaN", `{"id":NaN,"method":"tools/call"}`, parse, "not valid JSON", ""},
	{"leading zero", `{"id":01,"method":"tools/call"}`, parse, "not valid JSON", ""},
	{"raw NUL in string", "{\"method\":\"tools/call\x00\"}", parse, "not valid JSON", ""},
	{"raw NUL outside strings", "{\"method\":\"tools/call\"}\x00", parse, "not valid JSON", ""},
	{"raw tab in string", "{\"method\":\"tools/\tcall\"}", parse, "not valid JSON", ""},
	{"bad escape", `{"method":"tools\/c\all"}`, parse, "not valid JSON", ""},
	{"short unicode escape", `{"method":"\u00"}`, parse, "not valid JSON", ""},
	{"vertical tab as whitespace", "\v" + call("1", "a"), parse, "not valid JSON", ""},
	{"non-breaking space as whitespace", "\u00a0" + call("1", "a"), parse, "not valid JSON", ""},
	{"too deep", `{"id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":` + nested(MaxDepth-2) + `}}}`, parse, "deeper than 1000", ""},
	{"very deep", strings.Repeat("[", 1<<20), parse, "deeper than", ""},
	{"deep but unbalanced", strings.Repeat("[", 10) + "}", parse, "not valid JSON", ""},

	// Not a request object.
	{"string", `"tools/call"`, invalid, "string, not an object", ""},
	{"number", `42`, invalid, "number", ""},
	{"true", `true`, invalid, "boolean", ""},
	{"null", `null`, invalid, "null", ""},
	{"empty batch", `[]`, invalid, "batch is empty", ""},
	{"empty batch with space", ` [ ] `, invalid, "batch is empty", ""},
	{"batch of numbers", `[1]`, invalid, "element 0 is a JSON number", ""},
	{"nested batch", `[[` + call("1", "a") + `]]`, invalid, "element 0 is a JSON array", ""},
	{"batch with a bad element", `[` + call("1", "a") + `,"x"]`, invalid, "element 1", ""},
	{"batch with an ambiguous element", `[` + call("1", "a") + `,{"id":2,"method":"tools/list","method":"tools/call"}]`, invalid, `duplicate member "method" (batch element 1)`, ""},
	{"batch too long", "[" + strings.TrimSuffix(strings.Repeat(`{"method":"ping"},`, MaxBatchLength+1), ",") + "]", invalid, "more than 1000", ""},

	// Duplicate members.
	{"duplicate method", `{"id":1,"method":"tools/list","method":"tools/call"}`, invalid, `duplicate member "method"`, "1"},
	{"duplicate method, second escaped", `{"id":1,"method":"tools/call","\u006dethod":"tools/list"}`, invalid, `duplicate member "method"`, "1"},
	{"duplicate params", `{"id":1,"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}`, invalid, `duplicate member "params"`, "1"},
	{"duplicate id", `{"id":1,"id":2,"method":"tools/call"}`, invalid, `duplicate member "id"`, ""},
	{"duplicate jsonrpc", `{"jsonrpc":"2.0","jsonrpc":"2.0","method":"tools/call"}`, invalid, `duplicate member "jsonrpc"`, ""},
	{"duplicate other member", `{"id":1,"method":"ping","x":1,"x":2}`, invalid, "duplicate member name", "1"},
	{"duplicate among many members", `{"id":1,` + manyMembers(30) + `,"method":"ping","kxxx":1}`, invalid, "duplicate member name", "1"},
	{"duplicate name in params", `{"id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`, invalid, `duplicate member "name" in params`, "1"},
	{"duplicate escaped name in params", `{"id":1,"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}`, invalid, `duplicate member "name" in params`, "1"},
	{"duplicate arguments in params", `{"id":1,"method":"tools/call","params":{"name":"a","arguments":{},"arguments":{}}}`, invalid, "duplicate member name in params", "1"},
	{"duplicate among many params", `{"id":1,"method":"tools/call","params":{` + manyMembers(30) + `,"name":"a","kxx":1}}`, invalid, "duplicate member name in params", "1"},
	{"duplicate uri in resources/read", `{"id":1,"method":"resources/read","params":{"uri":"a","uri":"b"}}`, invalid, `duplicate member "uri" in params`, "1"},
	{"duplicate name in prompts/get", `{"id":1,"method":"prompts/get","params":{"name":"a","name":"b"}}`, invalid, `duplicate member "name" in params`, "1"},

	// Names that only resemble the ones read.
	{"Method", `{"id":1,"method":"tools/list","Method":"tools/call"}`, invalid, `differs from "method"`, "1"},
	{"METHOD alone", `{"id":1,"METHOD":"tools/call"}`, invalid, `differs from "method"`, "1"},
	{"mEtHoD", `{"id":1,"mEtHoD":"tools/call"}`, invalid, `differs from "method"`, "1"},
	{"me_thod", `{"id":1,"me_thod":"tools/call"}`, invalid, `differs from "method"`, "1"},
	{"Params", `{"id":1,"method":"tools/call","params":{"name":"a"},"Params":{"name":"b"}}`, invalid, `differs from "params"`, "1"},
	{"paramſ with long s", `{"id":1,"method":"tools/call","paramſ":{"name":"b"}}`, invalid, `differs from "params"`, "1"},
	{"jſonrpc with long s", `{"jſonrpc":"2.0","id":1,"method":"ping"}`, invalid, `differs from "jsonrpc"`, "1"},
	{"JSONRPC", `{"JSONRPC":"2.0","id":1,"method":"ping"}`, invalid, `differs from "jsonrpc"`, "1"},
	{"ID makes the id unreadable", `{"id":1,"ID":2,"method":"ping"}`, invalid, `differs from "id"`, ""},
	{"escaped Method", `{"id":1,"\u004dethod":"tools/call"}`, invalid, `differs from "method"`, "1"},
	{"Name in params", `{"id":1,"method":"tools/call","params":{"name":"a","Name":"b"}}`, invalid, `differs from "name" only in case, '-' or '_' in params`, "1"},
	{"NAME alone in params", `{"id":1,"method":"tools/call","params":{"NAME":"b"}}`, invalid, `differs from "name"`, "1"},
	{"na-me in params", `{"id":1,"method":"tools/call","params":{"na-me":"b"}}`, invalid, `differs from "name"`, "1"},
	{"URI in resources/read", `{"id":1,"method":"resources/read","params":{"uri":"a","URI":"b"}}`, invalid, `differs from "uri"`, "1"},

	// Member names parsers read differently.
	{"invalid UTF-8 in a member name", "{\"id\":1,\"method\":\"ping\",\"x\xff\":1}", invalid, "member name is not valid UTF-8", "1"},
	{"lone surrogate in a member name", `{"id":1,"method\ud800":"tools/call"}`, invalid, "lone UTF-16 surrogate", "1"},
	{"NUL in a member name", `{"id":1,"method\u0000":"tools/call"}`, invalid, "NUL", "1"},
	{"NUL in a params member name", `{"id":1,"method":"tools/call","params":{"name\u0000x":"b"}}`, invalid, "NUL character in params", "1"},

	// The method.
	{"method number", `{"id":1,"method":1}`, invalid, "method is a JSON number, not a string", "1"},
	{"method null", `{"id":1,"method":null}`, invalid, "method is a JSON null", "1"},
	{"method object", `{"id":1,"method":{"name":"tools/call"}}`, invalid, "method is a JSON object", "1"},
	{"method array", `{"id":1,"method":["tools/call"]}`, invalid, "method is a JSON array", "1"},
	{"method boolean", `{"id":1,"method":true}`, invalid, "method is a JSON boolean", "1"},
	{"method invalid UTF-8", "{\"id\":1,\"method\":\"tools/call\xff\"}", invalid, "method is not valid UTF-8", "1"},
	{"method overlong UTF-8", "{\"id\":1,\"method\":\"tools\xc0\xafcall\"}", invalid, "method is not valid UTF-8", "1"},
	{"method lone high surrogate", `{"id":1,"method":"tools/call\ud800"}`, invalid, "method contains a lone", "1"},
	{"method lone low surrogate", `{"id":1,"method":"tools/call\udc00"}`, invalid, "method contains a lone", "1"},
	{"method high surrogate then letter", `{"id":1,"method":"\ud800\u0041tools/call"}`, invalid, "method contains a lone", "1"},
	{"method high surrogate then high", `{"id":1,"method":"\ud800\ud800"}`, invalid, "method contains a lone", "1"},
	{"method escaped NUL", `{"id":1,"method":"tools/call\u0000"}`, invalid, "method contains a NUL", "1"},
	{"method Tools/Call", `{"id":1,"method":"Tools/Call","params":{"name":"a"}}`, invalid, `differs from "tools/call" only in case`, "1"},
	{"method TOOLS/CALL", `{"id":1,"method":"TOOLS/CALL","params":{"name":"a"}}`, invalid, `differs from "tools/call" only in case`, "1"},
	{"method with escaped long s", `{"id":1,"method":"tool\u017f/call","params":{"name":"a"}}`, invalid, `differs from "tools/call" only in case`, "1"},
	{"method with long s", `{"id":1,"method":"toolſ/call"}`, invalid, `differs from "tools/call"`, "1"},
	{"method too long", `{"id":1,"method":"` + long + `"}`, invalid, "method is longer than 8192", "1"},

	// The tool name.
	{"name invalid UTF-8", "{\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xff\"}}", invalid, "params.name is not valid UTF-8", "1"},
	{"name lone surrogate", `{"id":1,"method":"tools/call","params":{"name":"a\udfff"}}`, invalid, "params.name contains a lone", "1"},
	{"name escaped NUL", `{"id":1,"method":"tools/call","params":{"name":"a\u0000b"}}`, invalid, "params.name contains a NUL", "1"},
	{"name too long", `{"id":1,"method":"tools/call","params":{"name":"` + long + `"}}`, invalid, "params.name is longer than 8192", "1"},
	{"prompt name lone surrogate", `{"id":1,"method":"prompts/get","params":{"name":"\ud800"}}`, invalid, "params.name contains a lone", "1"},
	{"uri invalid UTF-8", "{\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"\xff\"}}", invalid, "params.uri is not valid UTF-8", "1"},
	{"string id survives", `{"id":"req-7","method":1}`, invalid, "method is a JSON number", `"req-7"`},
}

func TestReadRefuses(t *testing.T) {
	tests := readRefuseTests
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Read([]byte(tt.body))
			if err == nil {
				t.Fatalf("Read(%.200q) = %+v, want an error", tt.body, msg)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not *Error", err, err)
			}
			if e.Code != tt.code {
				t.Errorf("Code = %d, want %d (%s)", e.Code, tt.code, e.Message)
			}
			if !strings.Contains(e.Message, tt.contains) {
				t.Errorf("Message = %q, want it to contain %q", e.Message, tt.contains)
			}
			if string(e.ID) != tt.id || (tt.id == "") != (e.ID == nil) {
				t.Errorf("ID = %q, want %q", e.ID, tt.id)
			}
			if msg.Batch || msg.Requests != nil {
				t.Errorf("Message = %+v, want the zero Message with an error", msg)
			}
		})
	}
}

func TestReadErrorMessagesDoNotEchoTheBody(t *testing.T) {
	bodies := []string{
		`{"id":1,"method":"ping","<script>":1,"<script>":2}`,
		`{"id":1,"method":"tools/call","params":{"<script>":1,"<script>":2}}`,
		`{"id":1,"method":{"<script>":1}}`,
	}
	for _, body := range bodies {
		_, err := Read([]byte(body))
		if err == nil {
			t.Fatalf("Read(%q) succeeded, want an error", body)
		}
		if strings.Contains(err.Error(), "script") {
			t.Errorf("Read(%q) error %q echoes the body", body, err)
		}
	}
}

func TestReadKeepsNoReferenceToTheBody(t *testing.T) {
	body := []byte(call(`"id-1"`, "search"))
	msg, err := Read(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'X'
	}
	want := toolsCall(`"id-1"`, "search")
	if !reflect.DeepEqual(msg.Requests[0], want) {
		t.Errorf("after overwriting the body, request = %+v, want %+v", msg.Requests[0], want)
	}

	errBody := []byte(`{"id":"e-1","method":1}`)
	_, err = Read(errBody)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Read = %v, want *Error", err)
	}
	for i := range errBody {
		errBody[i] = 'X'
	}
	if string(e.ID) != `"e-1"` {
		t.Errorf("after overwriting the body, Error.ID = %q, want %q", e.ID, `"e-1"`)
	}
}

func TestReadAllocations(t *testing.T) {
	tests := []struct {
		name     string
		body     []byte
		maxAlloc float64
	}{
		// The scratch memory, the Requests slice, the id and the tool name.
		{"small call", []byte(call("1", "search")), 4},
		{"1 MiB call", bigCall(1 << 20), 4},
		{"1 MiB call with escaped arguments", bigEscapedCall(1 << 20), 4},
		// The scratch memory, the Requests slice and the id.
		{"tools/list", []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := Read(tt.body); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > tt.maxAlloc {
				t.Errorf("Read allocates %.0f times, want at most %.0f", allocs, tt.maxAlloc)
			}
			// In lent memory (as the filter reads), nothing.
			var requests [1]Request
			var text [64]byte
			var scratch Scratch
			allocs = testing.AllocsPerRun(20, func() {
				if _, err := ReadInto(tt.body, requests[:], text[:], &scratch); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("ReadInto in lent memory allocates %.0f times, want none", allocs)
			}
		})
	}
}

// bigCall returns a tools/call body of about size bytes with a typical
// argument: a long string.
func bigCall(size int) []byte {
	head := `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search","arguments":{"query":"`
	tail := `","limit":10}}}`
	filler := bytes.Repeat([]byte("lorem ipsum "), (size-len(head)-len(tail))/12+1)
	body := append([]byte(head), filler[:size-len(head)-len(tail)]...)
	return append(body, tail...)
}

// bigEscapedCall is bigCall with an argument made of escapes and nested
// objects, the worst case for a reader that unescapes what it passes.
func bigEscapedCall(size int) []byte {
	head := `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search","arguments":{"items":[`
	tail := `{}]}}}`
	item := `{"s":"\n\"\\\u00e9","n":[1,2,{"k":null}]},`
	n := (size - len(head) - len(tail)) / len(item)
	return []byte(head + strings.Repeat(item, n) + tail)
}

// TestReadIntoLendsTheRequest checks that ReadInto puts a single request
// and its id in the memory it is lent, gives a batch a list of its own,
// and caps each id so that appending to one cannot overwrite another;
// a name follows its id there.
func TestReadIntoLendsTheRequest(t *testing.T) {
	var lent [1]Request
	var lentIDs [16]byte // room for the ids and names
	msg, err := ReadInto([]byte(`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"echo"}}`), lent[:], lentIDs[:], nil)
	if err != nil || len(msg.Requests) != 1 || &msg.Requests[0] != &lent[0] || lent[0].ToolName != "echo" {
		t.Fatalf("ReadInto = %+v, %v; want the one request in the lent memory", msg, err)
	}
	if id := lent[0].ID; string(id) != "12" || &id[0] != &lentIDs[0] || cap(id) != len(id) {
		t.Fatalf("ID = %q (cap %d); want 12 in the lent memory, capped", id, cap(id))
	}
	if name := lent[0].ToolName; unsafe.StringData(name) != &lentIDs[2] || lent[0].Name != name {
		t.Fatalf("ToolName %q is not in the lent memory after the id", name)
	}
	msg, err = ReadInto([]byte(`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":"a2","method":"ping"}]`), lent[:], lentIDs[:], nil)
	// The lent text was lent again, so only the lent request is checked.
	if err != nil || len(msg.Requests) != 2 || &msg.Requests[0] == &lent[0] || lent[0].Method != "tools/call" {
		t.Fatalf("ReadInto(batch) = %+v, %v, lent %+v; want two requests and the lent request untouched", msg, err, lent[0])
	}
	first, second := msg.Requests[0].ID, msg.Requests[1].ID
	if string(first) != "1" || string(second) != `"a2"` || &first[0] != &lentIDs[0] || &second[0] != &lentIDs[1] {
		t.Fatalf("batch ids = %q, %q; want 1 and \"a2\" one after the other in the lent memory", first, second)
	}
	if _ = append(first, 'x'); string(second) != `"a2"` {
		t.Fatalf("appending to the first id changed the second to %q", second)
	}
}

// TestAppendRequestClears checks that appendRequest gives a zero Request
// in lent memory that holds another, whatever fields Request has: it
// clears them one by one.
func TestAppendRequestClears(t *testing.T) {
	var lent [1]Request
	v := reflect.ValueOf(&lent[0]).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("stale")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		default:
			t.Fatalf("field %s of kind %s: set it here", v.Type().Field(i).Name, f.Kind())
		}
	}
	requests := appendRequest(lent[:0])
	if len(requests) != 1 || &requests[0] != &lent[0] {
		t.Fatalf("appendRequest did not use the lent memory")
	}
	if !reflect.DeepEqual(lent[0], Request{}) {
		t.Errorf("appendRequest left %+v; want a zero Request", lent[0])
	}
}

// TestScratchKeepsNoBody checks that after a read the scratch memory holds
// no reference into the body, so that the filter can collect a large body
// at once while the scratch lives on.
func TestScratchKeepsNoBody(t *testing.T) {
	bodies := []string{
		// Read by the full reader: unknown member names at both levels.
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","x":1,"y":2,"params":{"name":"a","_meta":{},"z":3}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping","x":1},{"jsonrpc":"2.0","method":"ping","y":1}]`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","a":1,"a":2}`,
	}
	for _, b := range bodies {
		body := []byte(b)
		var scratch Scratch
		if _, err := ReadInto(body, nil, nil, &scratch); err != nil && !strings.Contains(b, `"a":1,"a":2`) {
			t.Fatalf("ReadInto(%s): %v", b, err)
		}
		start, end := uintptr(unsafe.Pointer(&body[0])), uintptr(unsafe.Pointer(&body[len(body)-1]))
		if p := pointerInto(reflect.ValueOf(&scratch).Elem(), start, end); p != "" {
			t.Errorf("after ReadInto(%s) the scratch still points into the body at %s", b, p)
		}
	}
}

// pointerInto returns the path of the first slice in v whose memory starts
// within [start, end], or "".
func pointerInto(v reflect.Value, start, end uintptr) string {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() > 0 || v.Cap() > 0 {
			if p := v.Pointer(); p >= start && p <= end {
				return "(slice)"
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if p := pointerInto(v.Field(i), start, end); p != "" {
				return v.Type().Field(i).Name + "." + p
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			if p := pointerInto(v.Index(i), start, end); p != "" {
				return fmt.Sprintf("[%d].%s", i, p)
			}
		}
	}
	return ""
}
