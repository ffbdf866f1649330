package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// fuzzSeeds are added to the corpus under testdata/fuzz/FuzzRead.
var fuzzSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"q":"x"}}}`,
	`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},{"jsonrpc":"2.0","method":"notifications/initialized"}]`,
	`{"id":1,"method":"tools/list","method":"tools/call","params":{"name":"a"}}`,
	`{"id":1,"method":"tools/list","Method":"tools/call"}`,
	`{"id":1,"\u006dethod":"tools\/call","params":{"n\u0061me":"se\u0061rch"}}`,
	`{"id":1,"method":"tools/call","params":{"name":"a","NAME":"b"}}`,
	`{"id":1,"method":"tools/call","params":{"name":"\ud800"}}`,
	`{"id":1,"method":"tools/call","params":{"name":"a\u0000b"}}`,
	`{"id":null,"method":"resources/read","params":{"uri":"file:///x"}}`,
	`{"id":"x","method":"prompts/get","params":{"name":"p"}}`,
	`{"id":1,"result":{}}`,
	`{}{"method":"tools/call"}`,
	"\xEF\xBB\xBF{\"method\":\"tools/call\"}",
	`[]`,
	`[[{"method":"tools/call"}]]`,
	`{"method":"toolſ/call"}`,
	`{"jſonrpc":"2.0","method":"tools/call"}`,
	`{"method":"tools/call","params":{"na_me":"a"}}`,
	`{"method":"tools/call","params":[1]}`,
	`{"method":1}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	"{\"method\":\"tools/call\",\"params\":{\"name\":\"\xff\"}}",
	`"tools/call"`,
	`{"id":12345678901234567890123,"method":"tools/call","params":{"name":"a","arguments":{"a":[1,2,{"b":"\"}"}]}}}`,
}

// fuzzScratch and previousFuzzBody let FuzzRead read each input in the
// memory the previous input was read in (a fuzzing worker runs its
// inputs one after another).
var (
	fuzzScratch      Scratch
	previousFuzzBody = []byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","uri":"b","x":[[[{"y":{}}]]]},` +
		`"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"q":18,"Method":"x"}]`)
)

// FuzzRead checks that Read never panics and that whatever it accepts, Go's
// encoding/json (into a map: exact names, last one wins; into a struct:
// case-insensitive names, last one wins) and gjson (first one wins) read
// the same method and name. In particular no parser sees a tools/call that
// Read reports as something else.
func FuzzRead(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		original := bytes.Clone(body)
		msg, err := Read(body)
		if !bytes.Equal(body, original) {
			t.Fatalf("Read modified its input")
		}
		lent := [1]Request{{Method: "stale", ID: []byte("9")}}
		lentIDs := []byte("stale ids")
		// The scratch memory is the previous input's: nothing a read
		// leaves there may change the next read.
		previous := previousFuzzBody
		_, _ = ReadInto(previous, nil, nil, &fuzzScratch)
		previousFuzzBody = original
		if into, intoErr := ReadInto(body, lent[:], lentIDs, &fuzzScratch); !reflect.DeepEqual(into, msg) || !reflect.DeepEqual(intoErr, err) {
			t.Fatalf("ReadInto(%q) after ReadInto(%q) in the same scratch = %+v, %v; Read gave %+v, %v",
				body, previous, into, intoErr, msg, err)
		}
		checkQuickAgrees(t, body)
		checkParseErrorLikeGjson(t, body, err)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if !json.Valid(body) {
			t.Fatalf("Read accepted %q, which encoding/json says is not valid JSON", body)
		}
		elements := []json.RawMessage{body}
		if msg.Batch {
			elements = nil
			if err := json.Unmarshal(body, &elements); err != nil {
				t.Fatalf("Read saw a batch in %q, encoding/json cannot decode it as an array: %v", body, err)
			}
		}
		if len(elements) != len(msg.Requests) {
			t.Fatalf("Read returned %d requests for %d messages in %q", len(msg.Requests), len(elements), body)
		}
		for i, element := range elements {
			checkAgreement(t, element, msg.Requests[i])
		}
	})
}

// checkParseErrorLikeGjson checks Read's single pass against gjson's
// validator and the depth bound: Read answers a parse error exactly when
// the body is empty, starts with a byte order mark, nests too deep or is
// not what gjson.ValidBytes accepts, and the depth message exactly when
// the body nests too deep.
func checkParseErrorLikeGjson(t *testing.T, body []byte, err error) {
	t.Helper()
	var e *Error
	parseErr := errors.As(err, &e) && e.Code == CodeParseError
	tooDeep := nestingExceeds(body, MaxDepth)
	want := len(bytes.TrimLeft(body, " \t\r\n")) == 0 || bytes.HasPrefix(body, byteOrderMark) ||
		tooDeep || !gjson.ValidBytes(body)
	if parseErr != want {
		t.Fatalf("Read(%q): parse error %t (%v), want %t", body, parseErr, err, want)
	}
	if parseErr && tooDeep && !bytes.HasPrefix(body, byteOrderMark) && !strings.Contains(e.Message, "nest deeper") {
		t.Fatalf("Read(%.60q): %q, want the depth message", body, e.Message)
	}
}

// TestReadValidatesLikeGjson runs checkParseErrorLikeGjson on every fuzz
// seed with each byte deleted, and with each of the bytes JSON's grammar
// turns on inserted at every position.
func TestReadValidatesLikeGjson(t *testing.T) {
	const inserts = "{}[],:\" \\/u0-.e+tfn\x01\x7f\xc3"
	for _, seed := range fuzzSeeds {
		for i := 0; i <= len(seed); i++ {
			if i < len(seed) {
				body := []byte(seed[:i] + seed[i+1:])
				_, err := Read(body)
				checkParseErrorLikeGjson(t, body, err)
			}
			for _, c := range []byte(inserts) {
				body := []byte(seed[:i] + string([]byte{c}) + seed[i:])
				_, err := Read(body)
				checkParseErrorLikeGjson(t, body, err)
			}
		}
	}
	for _, body := range []string{nested(1000), nested(1001), nested(1001)[:1500] + "x", "[" + nested(1000) + "]",
		`{"a":` + nested(999) + `}`, `{"a":` + nested(1000) + `}`, `[{"params":` + nested(998) + `}]`, `[{"params":` + nested(999) + `}]`} {
		_, err := Read([]byte(body))
		checkParseErrorLikeGjson(t, []byte(body), err)
	}
}

// checkRefusal checks the error Read returned.
func checkRefusal(t *testing.T, err error) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not *Error", err, err)
	}
	switch e.Code {
	case CodeParseError:
		if e.ID != nil {
			t.Fatalf("parse error with an id %q", e.ID)
		}
	case CodeInvalidRequest:
	default:
		t.Fatalf("unexpected error code %d", e.Code)
	}
	if e.ID != nil && !json.Valid(e.ID) {
		t.Fatalf("error id %q is not valid JSON", e.ID)
	}
	if reply := ErrorResponse(e.ID, e.Code, e.Message, nil); !json.Valid(reply) {
		t.Fatalf("the error reply %q is not valid JSON", reply)
	}
}

// decodeKeepingNumbers decodes data into v with encoding/json, numbers
// as json.Number: a huge number (1e400) is valid JSON that does not fit a
// float64.
func decodeKeepingNumbers(data []byte, v any) error {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	return decoder.Decode(v)
}

// checkAgreement compares what Read reported for one message with what
// other parsers read in it.
func checkAgreement(t *testing.T, element json.RawMessage, request Request) {
	// encoding/json into a map: exact names, last duplicate wins.
	var asMap map[string]any
	if err := decodeKeepingNumbers(element, &asMap); err != nil {
		t.Fatalf("Read accepted message %q, encoding/json cannot decode it into a map: %v", element, err)
	}
	mapMethod, _ := asMap["method"].(string)
	if _, present := asMap["method"]; present {
		if _, isString := asMap["method"].(string); !isString {
			t.Fatalf("Read accepted a non-string method in %q", element)
		}
	}
	if mapMethod != request.Method {
		t.Fatalf("method: Read %q, encoding/json map %q, in %q", request.Method, mapMethod, element)
	}
	rawID, hasID := asMap["id"]
	if hasID != (request.ID != nil) {
		t.Fatalf("id presence: Read %q, encoding/json map %v, in %q", request.ID, rawID, element)
	}
	if request.ID != nil && !json.Valid(request.ID) {
		t.Fatalf("id %q is not valid JSON", request.ID)
	}
	reply := ErrorResponse(request.ID, -32029, "Rate limit exceeded", RateLimitData(1))
	switch {
	case !json.Valid(reply):
		t.Fatalf("the reply %q to id %q is not valid JSON", reply, request.ID)
	case string(request.ID) == "null":
		// MCP ids are strings or numbers: a null id is answered without one.
		if bytes.Contains(reply, []byte(`"id"`)) {
			t.Fatalf("the reply %q to a null id has an id member", reply)
		}
	case request.ID != nil && !bytes.Contains(reply, request.ID) && !bytes.ContainsAny(request.ID, " \t\r\n"):
		t.Fatalf("the reply %q does not echo id %q", reply, request.ID)
	}

	// encoding/json into a struct: case-insensitive names, last wins.
	var asStruct struct {
		Method *string         `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(element, &asStruct); err != nil {
		t.Fatalf("Read accepted message %q, encoding/json cannot decode it into a struct: %v", element, err)
	}
	structMethod := ""
	if asStruct.Method != nil {
		structMethod = *asStruct.Method
	}
	if structMethod != request.Method {
		t.Fatalf("method: Read %q, encoding/json struct %q, in %q", request.Method, structMethod, element)
	}

	// gjson: first duplicate wins.
	if first := gjson.GetBytes(element, "method"); first.Exists() && first.String() != request.Method {
		t.Fatalf("method: Read %q, gjson %q, in %q", request.Method, first.String(), element)
	}

	nameMember := ""
	switch request.Method {
	case MethodToolsCall, methodPromptsGet:
		nameMember = "name"
	case methodResourcesRead:
		nameMember = "uri"
	default:
		if request.HasName || request.HasToolName {
			t.Fatalf("method %q has a name %q", request.Method, request.Name)
		}
		return
	}
	if request.HasToolName != (request.Method == MethodToolsCall && request.HasName) ||
		request.HasToolName && request.ToolName != request.Name {
		t.Fatalf("ToolName %q/%v disagrees with Name %q/%v", request.ToolName, request.HasToolName, request.Name, request.HasName)
	}

	params, _ := asMap["params"].(map[string]any)
	mapName, mapHasName := params[nameMember].(string)
	if mapHasName != request.HasName || mapName != request.Name {
		t.Fatalf("params.%s: Read %q/%v, encoding/json map %q/%v, in %q", nameMember, request.Name, request.HasName, mapName, mapHasName, element)
	}

	var structName string
	structHasName := false
	if len(asStruct.Params) > 0 && asStruct.Params[0] == '{' {
		var fields struct {
			Name any `json:"name"`
			URI  any `json:"uri"`
		}
		if err := decodeKeepingNumbers(asStruct.Params, &fields); err != nil {
			t.Fatalf("decoding params %q: %v", asStruct.Params, err)
		}
		value := fields.Name
		if nameMember == "uri" {
			value = fields.URI
		}
		structName, structHasName = value.(string)
	}
	if structHasName != request.HasName || structName != request.Name {
		t.Fatalf("params.%s: Read %q/%v, encoding/json struct %q/%v, in %q", nameMember, request.Name, request.HasName, structName, structHasName, element)
	}

	if first := gjson.GetBytes(element, "params."+nameMember); first.Type == gjson.String && first.String() != request.Name {
		t.Fatalf("params.%s: Read %q, gjson %q, in %q", nameMember, request.Name, first.String(), element)
	}
}

// TestReadAgreesOnMemberVariants builds messages from pairs of members
// whose names are spelled in the ways parsers disagree on, and checks that
// Read either refuses a message or reads it as encoding/json and gjson do.
func TestReadAgreesOnMemberVariants(t *testing.T) {
	spellings := func(name string) []string {
		upper := strings.ToUpper(name[:1]) + name[1:]
		return []string{
			name, upper, strings.ToUpper(name), `\u00` + fmt.Sprintf("%x", name[0]) + name[1:],
			name[:1] + "_" + name[1:], strings.ReplaceAll(name, "s", "ſ"), name + " ", "x" + name,
		}
	}
	methodValues := []string{`"tools/call"`, `"tools/list"`, `"Tools/Call"`, `"tools\/call"`, `1`}
	nameValues := []string{`"a"`, `"b"`, `7`}
	accepted := 0
	for _, k1 := range spellings("method") {
		for _, k2 := range spellings("method") {
			for _, v1 := range methodValues {
				for _, v2 := range methodValues {
					body := `{"id":1,"` + k1 + `":` + v1 + `,"` + k2 + `":` + v2 + `,"params":{"name":"a"}}`
					accepted += checkBody(t, body)
				}
			}
		}
	}
	for _, k1 := range spellings("name") {
		for _, k2 := range spellings("name") {
			for _, v1 := range nameValues {
				for _, v2 := range nameValues {
					body := `{"id":1,"method":"tools/call","params":{"` + k1 + `":` + v1 + `,"` + k2 + `":` + v2 + `}}`
					accepted += checkBody(t, body)
				}
			}
		}
	}
	for _, k := range spellings("params") {
		body := `{"id":1,"method":"tools/call","params":{"name":"a"},"` + k + `":{"name":"b"}}`
		accepted += checkBody(t, body)
	}
	if accepted == 0 {
		t.Fatal("every variant was refused; the test checks nothing")
	}
	t.Logf("%d variants accepted and compared, the others refused", accepted)
}

// checkBody reads body and, when Read accepts it, compares with the other
// decoders; it returns 1 when Read accepted it.
func checkBody(t *testing.T, body string) int {
	t.Helper()
	msg, err := Read([]byte(body))
	if err != nil {
		checkRefusal(t, err)
		return 0
	}
	if len(msg.Requests) != 1 || msg.Batch {
		t.Fatalf("Read(%q) = %+v, want one request", body, msg)
	}
	checkAgreement(t, json.RawMessage(body), msg.Requests[0])
	return 1
}

// checkQuickAgrees checks that when readQuick reads body, the full reader
// reads the same request from it and accepts the body as a whole.
func checkQuickAgrees(t *testing.T, body []byte) {
	t.Helper()
	var quick, full Request
	var quickText, fullText []byte
	if !readQuick(body, &quick, &quickText, new(containerStack)) {
		return
	}
	start := skipSpace(body, 0)
	end, failure, err := readRequest(body, start, 1, &full, &fullText, new(Scratch))
	switch {
	case failure != scanOK || err != nil:
		t.Fatalf("readQuick read %q as %+v; the full reader refuses it (%v, %v)", body, quick, failure, err)
	case skipSpace(body, end) != len(body):
		t.Fatalf("readQuick read %q as %+v; the full reader finds data after the request", body, quick)
	case !reflect.DeepEqual(quick, full):
		t.Fatalf("readQuick read %q as %+v; the full reader as %+v", body, quick, full)
	}
}
