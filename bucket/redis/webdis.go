package redis

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/tidwall/gjson"
)

// The filter reaches Redis through webdis, an HTTP front for Redis
// (github.com/nicolasff/webdis, README "Command format" and "JSON output"):
// a POST to "/" whose body is "COMMAND/arg1/.../argN" runs the command;
// '/' separates arguments and a '.' in the last one selects an output
// format, so arguments are percent-encoded (webdis decodes %XX in each).
// The reply is a JSON object with the command as its only member: an
// array for a multi-bulk reply, [false, "<error>"] for a Redis error.

// ExpiryMarginMillis is added to the time until a bucket is full again to
// give its key's expiry: a key never expires while its bucket owes tokens,
// whatever the clock drift between Redis replicas.
const ExpiryMarginMillis = 1000

// ScriptArgs returns the KEYS and ARGV with which the limiter of a plugin
// (its key prefix and namespace) runs Script for a plan of buckets only:
// what any Redis client can send with EVALSHA to take the same decision.
func ScriptArgs(keyPrefix, namespace string, plan []bucket.RemoteBucket) (keys, args []string) {
	var a argList
	writeDecide(&a, false, newKeys(keyPrefix, namespace), &takePlan{buckets: plan}, bucket.DefaultLeaseTTL)
	return a.keys, a.args
}

// planArgs are the six script arguments of one bucket (see take.lua).
func planArgs(r bucket.RemoteBucket) [6]int64 {
	const ns = 1_000_000_000
	return [6]int64{
		r.Bucket.Limit.MaxTokens,
		r.Cost.Whole / ns, r.Cost.Whole % ns, r.Cost.Frac,
		r.Capacity.Whole / ns, r.Capacity.Whole % ns,
	}
}

// appendArg appends s to b, every byte outside [A-Za-z0-9_-]
// percent-encoded.
func appendArg(b []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// Errors of a reply.
var (
	// errNoScript: Redis does not hold the script (restarted, flushed):
	// send it with EVAL.
	errNoScript = errors.New("redis: NOSCRIPT")
	// errScript: Redis answered with an error.
	errScript = errors.New("redis: script error")
	// errReply: the reply is not what the script returns.
	errReply = errors.New("redis: malformed reply")
	// errStatus: webdis answered with an HTTP status other than 200.
	errStatus = errors.New("redis: webdis status")
)

// maxErrorText bounds the Redis error text kept in an error.
const maxErrorText = 200

// parseReply reads the reply to a script run, written in protocol p
// (status is webdis's HTTP status; RESP has none): the script's integers,
// appended to dst[:0].
func parseReply(dst []int64, p Protocol, status int, body []byte, eval bool) ([]int64, error) {
	if p == ProtocolRESP {
		return respValues(dst, body)
	}
	return webdisValues(dst, status, body, eval)
}

// scriptError classifies a Redis error reply.
func scriptError(text string) error {
	if len(text) > maxErrorText {
		text = text[:maxErrorText]
	}
	if strings.HasPrefix(text, "NOSCRIPT") {
		return errNoScript
	}
	return fmt.Errorf("%w: %q", errScript, text)
}

// webdisValues reads webdis's JSON reply: the script's integers.
func webdisValues(dst []int64, status int, body []byte, eval bool) ([]int64, error) {
	if status != 200 {
		return nil, fmt.Errorf("%w %d", errStatus, status)
	}
	name := "EVALSHA"
	if eval {
		name = "EVAL"
	}
	if values, ok := plainWebdisValues(dst, body, name); ok {
		return values, nil
	}
	return jsonWebdisValues(body, name)
}

// jsonWebdisValues reads any JSON reply of webdis to the command name: an
// object whose only member is name, holding an array of integers, null (no
// values) or, for a Redis error, [false, "<error>"]. Anything else is
// malformed. It reads the body once, with no recursion, whatever is in it.
func jsonWebdisValues(body []byte, name string) ([]int64, error) {
	r := replyReader{data: body}
	if !r.take('{') {
		return nil, fmt.Errorf("%w: not a JSON object", errReply)
	}
	key, ok := r.token()
	if !ok || key[0] != '"' || !r.take(':') {
		return nil, fmt.Errorf("%w: not a JSON object", errReply)
	}
	if gjson.ParseBytes(key).String() != name {
		return nil, fmt.Errorf("%w: no %s member", errReply, name)
	}
	var items [][]byte
	if r.take('[') {
		if !r.take(']') {
			for {
				item, ok := r.token()
				if !ok {
					return nil, fmt.Errorf("%w: value %d is not a number", errReply, len(items))
				}
				items = append(items, item)
				if r.take(']') {
					break
				}
				if !r.take(',') {
					return nil, fmt.Errorf("%w: not a JSON array", errReply)
				}
			}
		}
	} else if item, ok := r.token(); !ok || string(item) != "null" {
		return nil, fmt.Errorf("%w: %s is not an array", errReply, name)
	}
	if !r.take('}') || !r.end() {
		return nil, fmt.Errorf("%w: no %s member or data after it", errReply, name)
	}
	if len(items) == 2 && string(items[0]) == "false" {
		text := ""
		if items[1][0] == '"' {
			text = validText(gjson.ParseBytes(items[1]).String())
		}
		return nil, scriptError(text)
	}
	values := make([]int64, len(items))
	for i, item := range items {
		if c := item[0]; c != '-' && (c < '0' || c > '9') {
			return nil, fmt.Errorf("%w: value %d is not a number", errReply, i)
		}
		v, err := strconv.ParseInt(string(item), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: value %d is %s", errReply, i, item)
		}
		values[i] = v
	}
	return values, nil
}

// validText replaces each byte of s that is not part of a UTF-8 sequence
// with U+FFFD, as JSON decoders do.
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// replyReader reads the JSON of a webdis reply from data, one token at a
// time.
type replyReader struct {
	data []byte
}

// take skips white space and then c, and reports whether c was there.
func (r *replyReader) take(c byte) bool {
	r.space()
	if len(r.data) > 0 && r.data[0] == c {
		r.data = r.data[1:]
		return true
	}
	return false
}

// end skips white space and reports whether nothing is left.
func (r *replyReader) end() bool {
	r.space()
	return len(r.data) == 0
}

func (r *replyReader) space() {
	for len(r.data) > 0 && (r.data[0] == ' ' || r.data[0] == '\t' || r.data[0] == '\n' || r.data[0] == '\r') {
		r.data = r.data[1:]
	}
}

// token skips white space and reads one JSON string, number, true, false
// or null, as written; ok is false for anything else (an object or array
// among them) or JSON that is not valid.
func (r *replyReader) token() (raw []byte, ok bool) {
	r.space()
	n := 0
	switch {
	case len(r.data) == 0:
		return nil, false
	case r.data[0] == '"':
		n = stringLen(r.data)
	case r.data[0] == '-' || '0' <= r.data[0] && r.data[0] <= '9':
		n = numberLen(r.data)
	default:
		for _, word := range [...]string{"true", "false", "null"} {
			if bytes.HasPrefix(r.data, []byte(word)) {
				n = len(word)
			}
		}
	}
	if n == 0 {
		return nil, false
	}
	raw, r.data = r.data[:n], r.data[n:]
	return raw, true
}

// stringLen is the length of the JSON string at the start of data, or 0
// if it is not one (unterminated, a control character, a bad escape).
func stringLen(data []byte) int {
	for i := 1; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return 0
		case c == '\\':
			i++
			if i == len(data) {
				return 0
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) {
					return 0
				}
				for _, h := range data[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0
					}
				}
				i += 4
			default:
				return 0
			}
		}
	}
	return 0
}

// numberLen is the length of the JSON number at the start of data, or 0
// if it is not one.
func numberLen(data []byte) int {
	i := 0
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = digitsEnd(data, i)
	default:
		return 0
	}
	if i < len(data) && data[i] == '.' {
		if j := digitsEnd(data, i+1); j > i+1 {
			i = j
		} else {
			return 0
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if j := digitsEnd(data, i); j > i {
			i = j
		} else {
			return 0
		}
	}
	return i
}

// digitsEnd is the index of the first byte at or after i of data that is
// not a decimal digit.
func digitsEnd(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// plainWebdisValues reads the reply of a successful script run in the
// form webdis writes it, {"<name>":[n,n,...]} with every n a decimal
// integer without sign, leading zero or exponent, below 10^18, and
// nothing else (no space): the same values webdisValues's JSON decoding
// finds, without its allocations. ok is false for anything else, which
// webdisValues then decodes as JSON.
func plainWebdisValues(dst []int64, body []byte, name string) (values []int64, ok bool) {
	rest, ok := bytes.CutPrefix(body, []byte(`{"`))
	if !ok {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(name)); !ok {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`":[`)); !ok {
		return nil, false
	}
	if rest, ok = bytes.CutSuffix(rest, []byte(`]}`)); !ok || len(rest) == 0 {
		return nil, false
	}
	values = dst[:0]
	for len(rest) > 0 {
		n := 0
		for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
			n++
		}
		if n == 0 || n > 18 || n > 1 && rest[0] == '0' {
			return nil, false
		}
		v := int64(0)
		for _, c := range rest[:n] {
			v = v*10 + int64(c-'0')
		}
		values = append(values, v)
		rest = rest[n:]
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return nil, false
			}
			rest = rest[1:]
		}
	}
	return values, true
}

// debtsOf checks the script's integers for plan's buckets, seconds,
// nanoseconds and fraction of each bucket's debt, and appends the debts
// to dst.
func debtsOf(dst []bucket.Span, values []int64, plan []bucket.RemoteBucket) ([]bucket.Span, error) {
	if len(values) != 3*len(plan) {
		return nil, fmt.Errorf("%w: %d debt values for %d buckets", errReply, len(values), len(plan))
	}
	debts := dst
	for i := range plan {
		s, n, f := values[3*i], values[3*i+1], values[3*i+2]
		if s < 0 || n < 0 || f < 0 || f >= 1<<53 || n >= 1_000_000_000 || s > (1<<63-1)/1_000_000_000-1 {
			return nil, fmt.Errorf("%w: debt %d s %d ns %d", errReply, s, n, f)
		}
		debts = append(debts, bucket.Span{Whole: s*1_000_000_000 + n, Frac: f})
	}
	return debts, nil
}
