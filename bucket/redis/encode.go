package redis

import "strconv"

// This file writes one script run (EVALSHA or EVAL over KEYS and ARGV) in
// a Transport's protocol. A take writes its keys and arguments straight
// into one buffer the limiter reuses, rather than building a string per
// argument first: in a Wasm VM every allocation counts on the request's
// path.

// argWriter receives a script run's KEYS, then its ARGV.
type argWriter interface {
	// begin starts a run of nkeys keys and nargs arguments.
	begin(eval bool, nkeys, nargs int)
	str(s string)
	int(n int64)
}

// encoder writes a script run in its protocol (webdis.go, resp.go).
type encoder struct {
	proto Protocol
	buf   []byte
}

// reset starts a new body in the encoder's buffer. The previous body must
// no longer be in use: a Transport does not keep a body after Post.
func (e *encoder) reset() { e.buf = e.buf[:0] }

func (e *encoder) begin(eval bool, nkeys, nargs int) {
	verb, script := "EVALSHA", ScriptSHA1
	if eval {
		verb, script = "EVAL", Script
	}
	if e.proto == ProtocolRESP {
		// An array of bulk strings: verb, script, key count, keys, args.
		e.buf = append(e.buf, '*')
		e.buf = strconv.AppendInt(e.buf, int64(3+nkeys+nargs), 10)
		e.buf = append(e.buf, "\r\n"...)
		e.str(verb)
	} else {
		// "VERB/arg/arg/...": the verb is the path's first segment.
		e.buf = append(e.buf, verb...)
	}
	e.str(script)
	e.int(int64(nkeys))
}

func (e *encoder) str(s string) {
	if e.proto == ProtocolRESP {
		e.buf = appendBulk(e.buf, s)
		return
	}
	e.buf = appendArg(append(e.buf, '/'), s)
}

func (e *encoder) int(n int64) {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	if e.proto == ProtocolRESP {
		e.buf = appendBulk(e.buf, d)
		return
	}
	// Digits and '-' need no escaping.
	e.buf = append(append(e.buf, '/'), d...)
}

// appendBulk appends v as a RESP bulk string.
func appendBulk[T string | []byte](b []byte, v T) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, "\r\n"...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// command is one script run in protocol p over keys and args.
func command(p Protocol, eval bool, keys, args []string) []byte {
	e := encoder{proto: p}
	e.begin(eval, len(keys), len(args))
	for _, s := range keys {
		e.str(s)
	}
	for _, s := range args {
		e.str(s)
	}
	return e.buf
}

// argList collects a script run's KEYS and ARGV as strings, for a client
// of its own (ScriptArgs).
type argList struct {
	nkeys      int
	keys, args []string
}

func (a *argList) begin(_ bool, nkeys, nargs int) {
	a.nkeys = nkeys
	a.keys = make([]string, 0, nkeys)
	a.args = make([]string, 0, nargs)
}

func (a *argList) str(s string) {
	if len(a.keys) < a.nkeys {
		a.keys = append(a.keys, s)
		return
	}
	a.args = append(a.args, s)
}

func (a *argList) int(n int64) { a.str(strconv.FormatInt(n, 10)) }
