package jsonrpc

import "testing"

// TestMemberWords checks the words both readers compare member names
// with against the names.
func TestMemberWords(t *testing.T) {
	type named struct {
		name string
		word uint64
	}
	words := []named{{"argument", wordArgument}}
	for i, name := range requestMembers {
		words = append(words, named{name, requestMemberWords[i]})
	}
	for i, name := range paramsMembers {
		words = append(words, named{name, paramsMemberWords[i]})
	}
	for _, w := range words {
		if got, short := shortWord([]byte(w.name)); got != w.word || !short || w.name == "" {
			t.Errorf("shortWord(%q) = %#x, %v; the constant is %#x", w.name, got, short, w.word)
		}
	}
}

// TestReadQuickShapes checks which bodies readQuick reads itself (what
// MCP clients send) and which it leaves to the full reader, and that
// what it reads is what Read returns.
func TestReadQuickShapes(t *testing.T) {
	tests := []struct {
		body  string
		quick bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`, true},
		{` { "method" : "tools/call" , "params" : { "arguments" : [1, {"a": null}] , "name" : "echo" } , "id" : "a-1" , "jsonrpc" : "2.0" } `, true},
		{`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`, true},
		{`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, true},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, true},
		{`{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"demo://clock"}}`, true},
		{`{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"summarize","arguments":{}}}`, true},
		{`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"arguments":{}}}`, true},
		// Left to the full reader.
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{}}}`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"echo"}}`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u00e9cho"}}`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list"}`, false},
		{`{"jsonrpc":"2.0","id":1,"Method":"tools/call"}`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"custom/method"}`, false},
		{`{"jsonrpc":"2.0","id":null,"method":"tools/call"}`, false},
		{`{"jsonrpc":"2.0","id":1.5,"method":"tools/call"}`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}x`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","argumentsX":{}}}`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","argument":{}}}`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}`, false},
		{`{"jsonrpc":"2.0","id":1,"result":{}}`, false},
		{`[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, false},
		{`{}`, false},
	}
	for _, tt := range tests {
		var r Request
		var text []byte
		if got := readQuick([]byte(tt.body), &r, &text, new(containerStack)); got != tt.quick {
			t.Errorf("readQuick(%s) = %v, want %v", tt.body, got, tt.quick)
			continue
		}
		checkQuickAgrees(t, []byte(tt.body))
	}
}
