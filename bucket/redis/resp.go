package redis

import (
	"bytes"
	"fmt"
	"strconv"
)

// Protocol says how a Transport carries commands and replies.
type Protocol uint8

const (
	// ProtocolWebdis: a webdis HTTP body, "COMMAND/arg/..." with
	// percent-encoded arguments, and its JSON reply (webdis.go).
	ProtocolWebdis Protocol = iota
	// ProtocolRESP: the Redis serialization protocol itself (Redis
	// documentation, "Redis serialization protocol specification"): the
	// command as an array of bulk strings, the reply as a RESP value. A
	// proxy whose host calls Redis natively (Higress's proxy_redis_call)
	// carries it.
	ProtocolRESP
)

// maxRESPValues bounds the array a reply may announce.
const maxRESPValues = 1 << 12

// respValues reads the script's reply: an array of integers, or an error.
func respValues(dst []int64, body []byte) ([]int64, error) {
	line, rest, ok := respLine(body)
	if !ok {
		return nil, fmt.Errorf("%w: not a RESP value", errReply)
	}
	switch line[0] {
	case '-':
		if len(rest) != 0 {
			return nil, fmt.Errorf("%w: data after the error", errReply)
		}
		return nil, scriptError(string(line[1:]))
	case '*':
	default:
		return nil, fmt.Errorf("%w: RESP type %q, want an array", errReply, line[0])
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 0 || n > maxRESPValues {
		return nil, fmt.Errorf("%w: array length %q", errReply, line[1:])
	}
	values := dst[:0]
	for i := range n {
		line, rest, ok = respLine(rest)
		if !ok || line[0] != ':' {
			return nil, fmt.Errorf("%w: value %d is not an integer", errReply, i)
		}
		v, err := strconv.ParseInt(string(line[1:]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: value %d is %q", errReply, i, line[1:])
		}
		values = append(values, v)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: data after the array", errReply)
	}
	return values, nil
}

// respLine splits off one CRLF-terminated, non-empty line.
func respLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 {
		return nil, nil, false
	}
	return b[:i], b[i+2:], true
}
