package jsonrpc

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

func TestErrorResponse(t *testing.T) {
	tests := []struct {
		name    string
		id      []byte
		code    int
		message string
		data    []byte
		want    string
	}{
		{"rate limited", []byte("1"), -32029, "Rate limit exceeded", RateLimitData(3),
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32029,"message":"Rate limit exceeded","data":{"retryAfterSeconds":3}}}`},
		{"notification: no id member", nil, -32029, "Rate limit exceeded", RateLimitData(1),
			`{"jsonrpc":"2.0","error":{"code":-32029,"message":"Rate limit exceeded","data":{"retryAfterSeconds":1}}}`},
		{"empty id counts as absent", []byte{}, 429, "m", nil,
			`{"jsonrpc":"2.0","error":{"code":429,"message":"m"}}`},
		{"no data member", []byte(`"abc"`), CodeInvalidRequest, "Invalid Request", nil,
			`{"jsonrpc":"2.0","id":"abc","error":{"code":-32600,"message":"Invalid Request"}}`},
		{"null id omitted", []byte("null"), CodeParseError, "Parse error", nil,
			`{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}}`},
		{"null id with whitespace omitted", []byte(" null\n"), CodeParseError, "Parse error", nil,
			`{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}}`},
		{"string id byte for byte", []byte(`"a\u0041\/\"é"`), 1, "m", nil,
			`{"jsonrpc":"2.0","id":"a\u0041\/\"é","error":{"code":1,"message":"m"}}`},
		{"number id byte for byte", []byte(`1.50e+3`), 1, "m", nil,
			`{"jsonrpc":"2.0","id":1.50e+3,"error":{"code":1,"message":"m"}}`},
		{"huge number id", []byte(`123456789012345678901234567890`), 1, "m", nil,
			`{"jsonrpc":"2.0","id":123456789012345678901234567890,"error":{"code":1,"message":"m"}}`},
		{"outer whitespace trimmed", []byte(" \n7\t"), 1, "m", nil,
			`{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"m"}}`},
		{"object id compacted", []byte(`{ "a" : [1, " x "] }`), 1, "m", nil,
			`{"jsonrpc":"2.0","id":{"a":[1," x "]},"error":{"code":1,"message":"m"}}`},
		{"invalid id omitted", []byte(`{"a"`), 1, "m", nil,
			`{"jsonrpc":"2.0","error":{"code":1,"message":"m"}}`},
		{"two values id omitted", []byte(`1 2`), 1, "m", nil,
			`{"jsonrpc":"2.0","error":{"code":1,"message":"m"}}`},
		{"nully string id kept", []byte(`"null"`), 1, "m", nil,
			`{"jsonrpc":"2.0","id":"null","error":{"code":1,"message":"m"}}`},
		{"invalid data omitted", []byte("1"), 1, "m", []byte(`{"retryAfterSeconds":`),
			`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}`},
		{"data compacted", []byte("1"), 1, "m", []byte(" { \"k\" : [ 1 ] } "),
			`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":{"k":[1]}}}`},
		{"message escaping", []byte("1"), 1, "a\"b\\c\nd\re\tf\bg\fh\x00i\x1fj\x7fk", nil,
			`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"a\"b\\c\nd\re\tf\bg\fh\u0000i\u001fj` + "\x7f" + `k"}}`},
		{"message invalid UTF-8", []byte("1"), 1, "a\xffb\xc3", nil,
			`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"a\ufffdb\ufffd"}}`},
		{"message line separators", []byte("1"), 1, "a\u2028b\u2029c é 😀", nil,
			`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"a\u2028b\u2029c é 😀"}}`},
		{"HTML is not escaped", []byte("1"), 1, "<a&b>", nil,
			`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"<a&b>"}}`},
		{"extreme codes", []byte("1"), math.MinInt32, "", nil,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-2147483648,"message":""}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ErrorResponse(tt.id, tt.code, tt.message, tt.data)
			if string(got) != tt.want {
				t.Errorf("ErrorResponse\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("ErrorResponse produced invalid JSON: %s", got)
			}
			var decoded struct {
				JSONRPC string `json:"jsonrpc"`
				Error   struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(got, &decoded); err != nil {
				t.Fatalf("decoding %s: %v", got, err)
			}
			if decoded.JSONRPC != "2.0" || decoded.Error.Code != tt.code {
				t.Errorf("decoded %+v, want jsonrpc 2.0 and code %d", decoded, tt.code)
			}
		})
	}
}

func TestErrorResponseMessageRoundTrips(t *testing.T) {
	messages := []string{"Rate limit exceeded", "quote \" backslash \\ slash /", "ctl \x01\x02\x1f", "ünïcödé ✓ 😀", "\u2028\u2029", ""}
	for _, message := range messages {
		var decoded struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(ErrorResponse(nil, 1, message, nil), &decoded); err != nil {
			t.Fatalf("message %q: %v", message, err)
		}
		if decoded.Error.Message != message {
			t.Errorf("message %q decodes as %q", message, decoded.Error.Message)
		}
	}
}

func TestRateLimitData(t *testing.T) {
	tests := []struct {
		seconds int64
		want    string
	}{
		{1, `{"retryAfterSeconds":1}`},
		{0, `{"retryAfterSeconds":0}`},
		{3600, `{"retryAfterSeconds":3600}`},
		{math.MaxInt64, `{"retryAfterSeconds":9223372036854775807}`},
		{-5, `{"retryAfterSeconds":-5}`},
	}
	for _, tt := range tests {
		got := RateLimitData(tt.seconds)
		if string(got) != tt.want {
			t.Errorf("RateLimitData(%d) = %s, want %s", tt.seconds, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("RateLimitData(%d) is not valid JSON", tt.seconds)
		}
	}
}

func TestErrorResponseAllocatesOnce(t *testing.T) {
	id, data := []byte(`"request-17"`), RateLimitData(12)
	allocs := testing.AllocsPerRun(50, func() {
		ErrorResponse(id, -32029, "Rate limit exceeded", data)
	})
	if allocs > 1 {
		t.Errorf("ErrorResponse allocates %.0f times, want 1", allocs)
	}
}

// TestRateLimitReplyIsErrorResponse: the rejection's own encoder writes
// what ErrorResponse writes with RateLimitData, for any id, code and
// message.
func TestRateLimitReplyIsErrorResponse(t *testing.T) {
	ids := []string{"", "1", `"a"`, " 7 ", "null", `{"a": [1, 2]}`, "{", `"\u00e9"`, "-0.5e3"}
	for _, m := range []struct {
		code    int
		message string
	}{{-32029, "Rate limit exceeded"}, {0, ""}, {-1 << 40, "quote \" and \u2028 and \xff"}} {
		reply := NewRateLimitReply(m.code, m.message)
		for _, id := range ids {
			for _, wait := range []int64{1, 60, 1 << 40} {
				want := ErrorResponse([]byte(id), m.code, m.message, RateLimitData(wait))
				text := strconv.FormatInt(wait, 10)
				if got := reply.Append(nil, []byte(id), text); string(got) != string(want) {
					t.Errorf("id %q, wait %d: %s, want %s", id, wait, got, want)
				}
				if got := reply.Append([]byte("["), []byte(id), text); string(got) != "["+string(want) {
					t.Errorf("id %q, wait %d, after [: %s, want [%s", id, wait, got, want)
				}
			}
		}
	}
}

// TestIsPlainID holds isPlainID to what appendIDMember did before it: an
// id it accepts is a JSON value that compacts to itself.
func TestIsPlainID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"1", true},
		{"9", true},
		{"1000000", true},
		{"1.5", true},
		{"1e3", true},
		{"1x", false},
		{"1.", false},
		{"1e", false},
		{"0", true},
		{"-0.5e3", true},
		{"12345678901234567890123", true},
		{`"a"`, true},
		{`""`, true},
		{`"req-1 ~ ok"`, true},
		{"", false},
		{"null", false},
		{"true", false},
		{"01", false},
		{"1 ", false},
		{"-", false},
		{`"`, false},
		{`"a\"b"`, false},
		{`"a\u0041"`, false},
		{`"é"`, false},
		{"\"tab\there\"", false},
		{`{"a":1}`, false},
		{`[1]`, false},
	}
	for _, tt := range tests {
		if got := isPlainID([]byte(tt.id)); got != tt.want {
			t.Errorf("isPlainID(%q) = %t, want %t", tt.id, got, tt.want)
		}
		checkPlainID(t, []byte(tt.id))
	}
}

// FuzzPlainID checks isPlainID on arbitrary ids (see checkPlainID).
func FuzzPlainID(f *testing.F) {
	for _, id := range []string{"1", `"a"`, "-0.5e3", `"a\"b"`, "01", `{"a":1}`} {
		f.Add([]byte(id))
	}
	f.Fuzz(func(t *testing.T, id []byte) { checkPlainID(t, id) })
}

// checkPlainID fails when isPlainID accepts an id that is not a JSON
// value, or one that compacting would change.
func checkPlainID(t *testing.T, id []byte) {
	t.Helper()
	if !isPlainID(id) {
		return
	}
	if string(id) == "null" || !isJSONValue(id) {
		t.Fatalf("isPlainID(%q) but it is not a JSON value other than null", id)
	}
	if compact := appendCompact(nil, id); string(compact) != string(id) {
		t.Fatalf("isPlainID(%q) but it compacts to %q", id, compact)
	}
}
