package jsonrpc

import "testing"

// TestQuickWords checks the words readQuick compares member names with.
func TestQuickWords(t *testing.T) {
	for _, tt := range []struct {
		name string
		word uint64
	}{
		{"jsonrpc", wordJSONRPC}, {"id", wordID}, {"method", wordMethod}, {"params", wordParams},
		{"name", wordName}, {"uri", wordURI}, {"argument", wordArgument},
	} {
		if got := prefixWord([]byte(tt.name)); got != tt.word {
			t.Errorf("prefixWord(%q) = %#x; the constant is %#x", tt.name, got, tt.word)
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
