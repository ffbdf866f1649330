package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
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

// jsonWebdisValues decodes any JSON reply of webdis to the command name.
func jsonWebdisValues(body []byte, name string) ([]int64, error) {
	var object map[string]json.RawMessage
	if err := json.Unmarshal(body, &object); err != nil {
		return nil, fmt.Errorf("%w: %v", errReply, err)
	}
	raw, ok := object[name]
	if !ok || len(object) != 1 {
		return nil, fmt.Errorf("%w: no %s member", errReply, name)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var items []any
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("%w: %v", errReply, err)
	}
	if len(items) == 2 {
		if ok, isBool := items[0].(bool); isBool && !ok {
			text, _ := items[1].(string)
			return nil, scriptError(text)
		}
	}
	values := make([]int64, len(items))
	for i, item := range items {
		n, ok := item.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%w: value %d is not a number", errReply, i)
		}
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: value %d is %s", errReply, i, n)
		}
		values[i] = v
	}
	return values, nil
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
