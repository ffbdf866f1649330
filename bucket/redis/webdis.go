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

// command is the command of one take, in protocol p: EVALSHA (or EVAL
// with the whole script) over the plan's keys and arguments.
func command(p Protocol, eval bool, k keys, plan []bucket.RemoteBucket) []byte {
	if p == ProtocolRESP {
		return respCommand(eval, k, plan)
	}
	return webdisCommand(eval, k, plan)
}

// webdisCommand is the webdis body of one take.
func webdisCommand(eval bool, k keys, plan []bucket.RemoteBucket) []byte {
	var b bytes.Buffer
	b.Grow(128 + 160*len(plan))
	if eval {
		b.WriteString("EVAL/")
		writeArg(&b, Script)
	} else {
		b.WriteString("EVALSHA/")
		b.WriteString(ScriptSHA1)
	}
	keys, args := scriptArgs(k, plan)
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(len(keys)))
	for _, a := range append(keys, args...) {
		b.WriteByte('/')
		writeArg(&b, a)
	}
	return b.Bytes()
}

// ScriptArgs returns the KEYS and ARGV with which the limiter of a plugin
// (its key prefix and namespace) runs Script for plan: what any Redis
// client can send with EVALSHA to take the same decision.
func ScriptArgs(keyPrefix, namespace string, plan []bucket.RemoteBucket) (keys, args []string) {
	return scriptArgs(newKeys(keyPrefix, namespace), plan)
}

func scriptArgs(k keys, plan []bucket.RemoteBucket) (keys, args []string) {
	keys = make([]string, len(plan))
	args = make([]string, 0, 1+6*len(plan))
	args = append(args, strconv.Itoa(ExpiryMarginMillis))
	for i, r := range plan {
		keys[i] = k.of(r.Bucket)
		for _, n := range planArgs(r) {
			args = append(args, strconv.FormatInt(n, 10))
		}
	}
	return keys, args
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

// writeArg percent-encodes every byte outside [A-Za-z0-9_-].
func writeArg(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
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

// parseReply reads the reply to a take of plan, written in protocol p
// (status is webdis's HTTP status; RESP has none): whether the script
// admitted it and each bucket's debt before the take.
func parseReply(p Protocol, status int, body []byte, eval bool, plan []bucket.RemoteBucket) (allowed bool, debts []bucket.Span, err error) {
	var values []int64
	if p == ProtocolRESP {
		values, err = respValues(body)
	} else {
		values, err = webdisValues(status, body, eval)
	}
	if err != nil {
		return false, nil, err
	}
	return debtsOf(values, plan)
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
func webdisValues(status int, body []byte, eval bool) ([]int64, error) {
	if status != 200 {
		return nil, fmt.Errorf("%w %d", errStatus, status)
	}
	name := "EVALSHA"
	if eval {
		name = "EVAL"
	}
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

// debtsOf checks the script's integers for plan: allowed (0 or 1), then
// seconds, nanoseconds and fraction of each bucket's debt.
func debtsOf(values []int64, plan []bucket.RemoteBucket) (bool, []bucket.Span, error) {
	if len(values) != 1+3*len(plan) {
		return false, nil, fmt.Errorf("%w: %d values for %d buckets", errReply, len(values), len(plan))
	}
	for i, v := range values {
		if v < 0 || v >= 1<<53 {
			return false, nil, fmt.Errorf("%w: value %d is %d", errReply, i, v)
		}
	}
	if values[0] > 1 {
		return false, nil, fmt.Errorf("%w: allowed is %d", errReply, values[0])
	}
	debts := make([]bucket.Span, len(plan))
	for i := range plan {
		s, n, f := values[1+3*i], values[2+3*i], values[3+3*i]
		if n >= 1_000_000_000 || s > (1<<63-1)/1_000_000_000-1 {
			return false, nil, fmt.Errorf("%w: debt %d s %d ns", errReply, s, n)
		}
		debts[i] = bucket.Span{Whole: s*1_000_000_000 + n, Frac: f}
	}
	return values[0] == 1, debts, nil
}
