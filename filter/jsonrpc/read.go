package jsonrpc

import (
	"bytes"
	"fmt"
	"unsafe"
)

// Bounds on what Read accepts. They are documented in doc.go.
const (
	// MaxDepth is the deepest nesting of arrays and objects Read accepts.
	// It equals the bound of the official MCP Go SDK (v1.8.0,
	// internal/json/json.go, defaultMaxDepth), which refuses deeper input
	// anyway.
	MaxDepth = 1000
	// MaxBatchLength is the largest number of messages in a batch.
	MaxBatchLength = 1000
	// MaxNameBytes bounds the decoded length of "method", params.name and
	// params.uri: no MCP method, tool or prompt name comes near it, and it
	// caps what Read copies out of a body.
	MaxNameBytes = 8192
)

// Methods whose params Read looks into.
const (
	methodPromptsGet    = "prompts/get"
	methodResourcesRead = "resources/read"
)

// Members of a request Read reads; their indexes in requestMembers.
const (
	memberJSONRPC = iota
	memberMethod
	memberParams
	memberID
)

var requestMembers = [...]string{"jsonrpc", "method", "params", "id"}

// Members of params Read reads; their indexes in paramsMembers.
const (
	paramName = iota
	paramURI
)

var paramsMembers = [...]string{"name", "uri"}

// The words of the member names (see shortWord), constants so that
// readQuick can switch on them; TestMemberWords checks them against the
// names.
const (
	wordJSONRPC = 'j' | 's'<<8 | 'o'<<16 | 'n'<<24 | 'r'<<32 | 'p'<<40 | 'c'<<48
	wordMethod  = 'm' | 'e'<<8 | 't'<<16 | 'h'<<24 | 'o'<<32 | 'd'<<40
	wordParams  = 'p' | 'a'<<8 | 'r'<<16 | 'a'<<24 | 'm'<<32 | 's'<<40
	wordID      = 'i' | 'd'<<8
	wordName    = 'n' | 'a'<<8 | 'm'<<16 | 'e'<<24
	wordURI     = 'u' | 'r'<<8 | 'i'<<16
)

// The words of requestMembers and paramsMembers, indexed alike.
var (
	requestMemberWords = [len(requestMembers)]uint64{memberJSONRPC: wordJSONRPC, memberMethod: wordMethod, memberParams: wordParams, memberID: wordID}
	paramsMemberWords  = [len(paramsMembers)]uint64{paramName: wordName, paramURI: wordURI}
)

// shortWord returns prefixWord(text) when text has at most eight bytes.
// Two texts without a NUL byte have the same word only when they are the
// same: the names and methods a read compares have none (JSON has no raw
// NUL in a string, and decodeString refuses an escaped one).
func shortWord(text []byte) (uint64, bool) {
	if len(text) > 8 {
		return 0, false
	}
	return prefixWord(text), true
}

// prefixWord returns the first eight bytes of text (all of it when
// shorter) in one word, the first in the low byte and the rest zero.
func prefixWord(text []byte) uint64 {
	n := len(text)
	switch {
	case n >= 8:
		return load64(text, 0)
	case cap(text) >= 8:
		// Past len, within cap (the rest of the body), masked off.
		return load64(text[:8], 0) & (1<<(8*n) - 1)
	}
	var word uint64
	for i := n - 1; i >= 0; i-- {
		word = word<<8 | uint64(text[i])
	}
	return word
}

// byteOrderMark is U+FEFF encoded in UTF-8.
var byteOrderMark = []byte{0xEF, 0xBB, 0xBF}

// read is Read with a concrete error type. It walks the body once: the
// walk validates the JSON text, bounds its depth and reads the members
// Read needs. Problems that make a body an invalid request are reported
// only once the whole body is known to be JSON, so that a body that is
// both gets the parse error.
func read(body []byte, requests []Request, text *[]byte, scratch *Scratch) (Message, *Error) {
	start := skipSpace(body, 0)
	switch {
	case start == len(body):
		return Message{}, parseError("the body is empty")
	case len(body) >= len(byteOrderMark) && sameText(body[:len(byteOrderMark)], byteOrderMark):
		// RFC 8259, section 8.1: senders MUST NOT add a byte order mark,
		// receivers MAY ignore it; some servers skip it, others fail.
		return Message{}, parseError("the body starts with a byte order mark")
	}
	var (
		msg     Message
		end     int
		failure scanFailure
		err     *Error
	)
	switch body[start] {
	case '{':
		// The request is read into its place in requests: in a Wasm VM
		// copying a struct of this size is a call.
		requests = appendRequest(requests)
		if readQuick(body, &requests[len(requests)-1], text, &scratch.stack) {
			return Message{Requests: requests}, nil
		}
		end, failure, err = readRequest(body, start, 1, &requests[len(requests)-1], text, scratch)
		if failure == scanOK && err == nil {
			msg = Message{Requests: requests}
		}
	case '[':
		msg, end, failure, err = readBatch(body, start, text, scratch)
	default:
		end, failure = skipValue(body, start, 0, &scratch.stack)
		err = invalidRequest(nil, "the body is a JSON %s, not an object or array", kindOf(body[start]))
	}
	if failure == scanOK && skipSpace(body, end) != len(body) {
		// Trailing data after the value ("{}{}", "{} x"): a streaming
		// decoder (Go's json.Decoder, used by the MCP Go SDK) would
		// read only the first value.
		failure = scanInvalid
	}
	switch {
	case failure == scanTooDeep || failure == scanInvalid && nestingExceeds(body, MaxDepth):
		return Message{}, parseError(fmt.Sprintf("arrays and objects nest deeper than %d levels", MaxDepth))
	case failure == scanInvalid:
		return Message{}, parseError("the body is not valid JSON")
	case err != nil:
		return Message{}, err
	}
	return msg, nil
}

// readBatch reads the batch whose '[' is at body[start] and returns the
// index just past it. After a refused element it only validates the rest.
func readBatch(body []byte, start int, text *[]byte, scratch *Scratch) (Message, int, scanFailure, *Error) {
	var requests []Request
	var refused *Error
	i := skipSpace(body, start+1)
	if i < len(body) && body[i] == ']' {
		// JSON-RPC 2.0, section 6: an empty array is an invalid request.
		return Message{}, i + 1, scanOK, invalidRequest(nil, "the batch is empty")
	}
	for n := 0; ; n++ {
		if i >= len(body) {
			return Message{}, i, scanInvalid, nil
		}
		if refused == nil && n == MaxBatchLength {
			refused = invalidRequest(nil, "the batch has more than %d messages", MaxBatchLength)
		}
		if refused == nil && body[i] != '{' {
			refused = invalidRequest(nil, "batch element %d is a JSON %s, not an object", n, kindOf(body[i]))
		}
		if refused != nil {
			end, failure := skipValue(body, i, 1, &scratch.stack)
			if failure != scanOK {
				return Message{}, end, failure, nil
			}
			i = end
		} else {
			if requests == nil {
				requests = make([]Request, 0, 4)
			}
			requests = appendRequest(requests)
			end, failure, err := readRequest(body, i, 2, &requests[len(requests)-1], text, scratch)
			switch {
			case failure != scanOK:
				return Message{}, end, failure, nil
			case err != nil:
				requests = requests[:len(requests)-1]
				if err.Code == CodeInvalidRequest {
					err.Message = fmt.Sprintf("%s (batch element %d)", err.Message, n)
				}
				err.ID = nil // a batch is answered as a whole
				refused = err
			}
			i = end
		}
		i = skipSpace(body, i)
		switch {
		case i >= len(body):
			return Message{}, i, scanInvalid, nil
		case body[i] == ']':
			if refused != nil {
				return Message{}, i + 1, scanOK, refused
			}
			return Message{Batch: true, Requests: requests}, i + 1, scanOK, nil
		case body[i] != ',':
			return Message{}, i, scanInvalid, nil
		}
		i = skipSpace(body, i+1)
	}
}

// seenMember records the members of one object that Read reads.
type seenMember struct {
	count      int  // members whose decoded name is exactly this name
	value      span // the first one's value
	resembling bool // a member whose name only resembles this name
}

// objectScan is the outcome of walking one object.
type objectScan struct {
	want      []string     // the member names to record
	wantWords []uint64     // their shortWord
	seen      []seenMember // what was seen of each, indexed like want
	// problem describes the first thing that makes the object ambiguous:
	// a member name a parser may decode differently, a duplicate name, or
	// a name that only resembles one of want (differs in case, '-' or
	// '_'). Duplicates of any name count: first-wins and last-wins
	// parsers read them differently.
	problem string
	// inner, when set, is walked in the same pass as the value of the
	// first member named want[innerMember], if that value is an object.
	inner       *objectScan
	innerMember int
	innerWalked bool
}

// objectWalk is the working memory of one object's walk (in a Scratch).
type objectWalk struct {
	it    objectIter
	names nameSet
}

// start starts the walk of the object whose '{' is at body[start], depth
// arrays and objects deep, forgetting the previous walk.
func (w *objectWalk) start(body []byte, start, depth int, stack *containerStack) {
	w.it.start(body, start, depth, stack)
	w.names.reset()
}

// forget drops the walk's references into the body: the body itself and
// the names it has added.
func (w *objectWalk) forget() {
	w.it.data = nil
	for i := 0; i < w.names.n; i++ {
		w.names.small[i] = nil
	}
	w.names.reset()
}

// scanObject walks the object whose '{' is at body[start], depth arrays
// and objects deep (itself included), validating it and filling scan (and
// scan.inner, in scratch.inner), and returns the index just past it.
func scanObject(body []byte, start, depth int, scan *objectScan, scratch *Scratch) (int, scanFailure) {
	w := &scratch.outer
	it, names := &w.it, &w.names
	w.start(body, start, depth, &scratch.stack)
	for {
		m, more := it.next()
		if !more {
			break
		}
		known, exact := scan.classify(body, m, names)
		var valueEnd int
		if inner := scan.inner; inner != nil && known == scan.innerMember && exact &&
			scan.seen[known].count == 0 && body[m.valueStart] == '{' {
			// Not recursive: the inner object has a walk of its own
			// (scratch.inner), and its members are not walked further.
			var failure scanFailure
			if valueEnd, failure = scanInnerObject(body, m.valueStart, depth+1, inner, scratch); failure != scanOK {
				return 0, failure
			}
			scan.innerWalked = true
			it.endValue(valueEnd)
		} else {
			valueEnd = it.skipValue()
		}
		scan.record(known, exact, span{m.valueStart, valueEnd})
	}
	if it.failure != scanOK {
		return 0, it.failure
	}
	return it.i + 1, scanOK
}

// scanInnerObject is scanObject for an object whose members are not
// walked further.
func scanInnerObject(body []byte, start, depth int, scan *objectScan, scratch *Scratch) (int, scanFailure) {
	w := &scratch.inner
	it, names := &w.it, &w.names
	w.start(body, start, depth, &scratch.stack)
	for {
		m, more := it.next()
		if !more {
			break
		}
		known, exact := scan.classify(body, m, names)
		scan.record(known, exact, span{m.valueStart, it.skipValue()})
	}
	if it.failure != scanOK {
		return 0, it.failure
	}
	return it.i + 1, scanOK
}

// classify decodes the name of m, finds it in scan.want (its index and
// whether it matches exactly, after unescaping, or only resembles it; -1
// when it is neither) and records what makes it ambiguous.
func (scan *objectScan) classify(body []byte, m member, names *nameSet) (known int, exact bool) {
	name := body[m.name.start:m.name.end]
	if !m.plainName {
		var p stringProblem
		if name, p = decodeString(name, nil); p != stringOK {
			scan.setProblem("a member name " + p.describe())
			return -1, false
		}
	}
	known, exact = -1, false
	if word, short := shortWord(name); short {
		// One comparison per name of want, not a loop over its bytes.
		for i, w := range scan.wantWords {
			if word == w {
				known, exact = i, true
				break
			}
		}
	}
	if known < 0 {
		for i, w := range scan.want {
			// (Every name of want is non-empty, so name[0] exists.)
			if len(name) >= len(w) && len(w) > 0 && mayResemble(name[0], w[0]) && resembles(name, w) {
				known = i
				break
			}
		}
	}
	// A name of want is counted in seen (by record), any other is kept
	// in names.
	switch {
	case exact:
		if scan.seen[known].count > 0 {
			scan.setProblem(`duplicate member "` + scan.want[known] + `"`)
		}
	case names.add(name):
		scan.setProblem("duplicate member name")
	case known >= 0:
		scan.seen[known].resembling = true
		scan.setProblem(`a member name differs from "` + scan.want[known] + `" only in case, '-' or '_'`)
	}
	return known, exact
}

// record notes the value of a member found by classify.
func (scan *objectScan) record(known int, exact bool, value span) {
	if known < 0 || !exact {
		return
	}
	scan.seen[known].count++
	if scan.seen[known].count == 1 {
		scan.seen[known].value = value
	}
}

// setProblem records problem unless an earlier one is recorded.
func (scan *objectScan) setProblem(problem string) {
	if scan.problem == "" {
		scan.problem = problem
	}
}

// requestWalk is the working memory of readRequest (in a Scratch).
type requestWalk struct {
	seen            [len(requestMembers)]seenMember
	paramsSeen      [len(paramsMembers)]seenMember
	message, params objectScan
	decoded         [64]byte // decoded names with escapes
}

// start readies scan to record the members want into seen, forgetting
// the previous walk: field by field, as a cleared objectScan would be
// cleared with memory.fill in a Wasm VM (see Scratch).
func (scan *objectScan) start(want []string, wantWords []uint64, seen []seenMember) {
	for i := range seen {
		seen[i].count, seen[i].resembling = 0, false
	}
	scan.want, scan.wantWords, scan.seen, scan.problem = want, wantWords, seen, ""
	scan.inner, scan.innerMember, scan.innerWalked = nil, 0, false
}

// appendRequest appends a zero Request to requests, field by field (see
// objectScan.start).
func appendRequest(requests []Request) []Request {
	if len(requests) == cap(requests) {
		return append(requests, Request{})
	}
	requests = requests[:len(requests)+1]
	r := &requests[len(requests)-1]
	r.Method, r.ID, r.ToolName, r.HasToolName, r.Name, r.HasName = "", nil, "", false, "", false
	return requests
}

// readRequest reads the request object whose '{' is at body[start], depth
// arrays and objects deep (itself included), into *request (which must be
// zero), its id and name copied into text, and returns the index just past
// it; when the object is valid JSON but refused, the index too.
func readRequest(body []byte, start, depth int, request *Request, text *[]byte, scratch *Scratch) (int, scanFailure, *Error) {
	// params is walked in the same pass as the message (its arguments
	// can be most of the body), but its problems only count for the
	// methods whose params Read reads.
	w := &scratch.request
	w.params.start(paramsMembers[:], paramsMemberWords[:], w.paramsSeen[:])
	w.message.start(requestMembers[:], requestMemberWords[:], w.seen[:])
	w.message.inner, w.message.innerMember = &w.params, memberParams
	seen, paramsSeen, params, message := &w.seen, &w.paramsSeen, &w.params, &w.message
	end, failure := scanObject(body, start, depth, message, scratch)
	if failure != scanOK {
		return end, failure, nil
	}
	if id := seen[memberID]; id.count == 1 && !id.resembling {
		request.ID = keep(text, body[id.value.start:id.value.end])
	}
	if message.problem != "" {
		return end, scanOK, invalidReason(request.ID, message.problem)
	}
	method := seen[memberMethod]
	if method.count == 0 {
		// No "method": a response (the client answering a server
		// request) or not JSON-RPC at all. Either way nothing is called.
		return end, scanOK, nil
	}
	decodeInto := w.decoded[:0]
	decoded, err := stringMember(body, method.value, "method", request.ID, decodeInto)
	if err != nil {
		return end, scanOK, err
	}
	var known int
	request.Method, known = internMethod(decoded)
	toolsCall := known == knownToolsCall
	// Only a method ending in l or L can fold to tools/call: the test
	// spares other methods the call of bytes.EqualFold.
	if !toolsCall && len(decoded) > 0 && decoded[len(decoded)-1]|0x20 == 'l' && bytes.EqualFold(decoded, []byte(MethodToolsCall)) {
		return end, scanOK, invalidRequest(request.ID, "method differs from %q only in case", MethodToolsCall)
	}
	var nameMember int
	var namePath string
	switch {
	case toolsCall || known == knownPromptsGet:
		nameMember, namePath = paramName, "params.name"
	case known == knownResourcesRead:
		nameMember, namePath = paramURI, "params.uri"
	default:
		return end, scanOK, nil
	}
	if !message.innerWalked {
		// Missing or by-position params: no name (the filter still
		// counts a tools/call against the server-wide buckets).
		return end, scanOK, nil
	}
	if params.problem != "" {
		return end, scanOK, invalidReason(request.ID, params.problem+" in params")
	}
	name := paramsSeen[nameMember]
	if name.count == 0 || body[name.value.start] != '"' {
		return end, scanOK, nil
	}
	decoded, err = stringMember(body, name.value, namePath, request.ID, decodeInto)
	if err != nil {
		return end, scanOK, err
	}
	request.Name, request.HasName = view(keep(text, decoded)), true
	if toolsCall {
		request.ToolName, request.HasToolName = request.Name, true
	}
	return end, scanOK, nil
}

// keep copies b into text and returns the copy, capped so that a later
// append to text cannot reach it.
func keep(text *[]byte, b []byte) []byte {
	from := len(*text)
	*text = append(*text, b...)
	return (*text)[from:len(*text):len(*text)]
}

// view is the string of b's bytes, sharing its memory: b is memory
// nothing writes while the Message is in use (see ReadInto).
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// stringMember decodes the value of the member called what, which must be
// a string an MCP server cannot read differently. The result aliases body
// or scratch: callers copy what they keep.
func stringMember(body []byte, value span, what string, id, scratch []byte) ([]byte, *Error) {
	if body[value.start] != '"' {
		return nil, invalidRequest(id, "%s is a JSON %s, not a string", what, kindOf(body[value.start]))
	}
	decoded, p := decodeString(body[value.start+1:value.end-1], scratch)
	if p != stringOK {
		return nil, invalidRequest(id, "%s %s", what, p.describe())
	}
	if len(decoded) > MaxNameBytes {
		return nil, invalidRequest(id, "%s is longer than %d bytes", what, MaxNameBytes)
	}
	return decoded, nil
}

// internMethod returns the MCP method names as constants, so reading them
// allocates nothing, with their index in knownMethods, and copies any
// other name (index -1). It compares the first eight bytes of a name as
// one word, and the rest only when those and the length match: in a Wasm
// VM each byte compared in a loop is a jump.
func internMethod(method []byte) (string, int) {
	word := prefixWord(method)
	for i := range knownMethods {
		if known := knownMethods[i]; knownMethodWords[i] == word && len(known) == len(method) &&
			(len(known) <= 8 || sameText(method[8:], known[8:])) {
			return known, i
		}
	}
	return string(method), -1
}

// knownMethods are the methods internMethod returns without a copy, the
// most frequent first; the constants below are the indexes Read uses.
var knownMethods = [...]string{
	knownToolsCall:     MethodToolsCall,
	1:                  "tools/list",
	2:                  "initialize",
	3:                  "notifications/initialized",
	4:                  "ping",
	knownPromptsGet:    methodPromptsGet,
	6:                  "prompts/list",
	knownResourcesRead: methodResourcesRead,
	8:                  "resources/list",
	9:                  "resources/templates/list",
	10:                 "notifications/cancelled",
	11:                 "notifications/progress",
}

const (
	knownToolsCall     = 0
	knownPromptsGet    = 5
	knownResourcesRead = 7
)

// knownMethodWords are the prefixWord of each of knownMethods.
var knownMethodWords = func() (words [len(knownMethods)]uint64) {
	for i, m := range knownMethods {
		words[i] = prefixWord([]byte(m))
	}
	return words
}()

// kindOf names the kind of JSON value that starts with c.
func kindOf(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// nameSet detects duplicate member names. The first few are compared
// directly (no allocation); an object with more members switches to a map.
type nameSet struct {
	small [16][]byte
	n     int
	big   map[string]struct{}
}

// reset forgets the names added.
func (s *nameSet) reset() { s.n, s.big = 0, nil }

// add records name and reports whether it was already there.
func (s *nameSet) add(name []byte) (duplicate bool) {
	if s.big != nil {
		if _, duplicate = s.big[string(name)]; !duplicate {
			s.big[string(name)] = struct{}{}
		}
		return duplicate
	}
	for _, seen := range s.small[:s.n] {
		if sameText(name, seen) {
			return true
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = name
		s.n++
		return false
	}
	s.big = make(map[string]struct{}, 4*len(s.small))
	for _, seen := range s.small {
		s.big[string(seen)] = struct{}{}
	}
	s.big[string(name)] = struct{}{}
	return false
}

func parseError(reason string) *Error {
	return &Error{Code: CodeParseError, Message: "Parse error: " + reason}
}

// invalidReason is invalidRequest without formatting. Problems recorded
// in an objectScan go through it: converting them to interfaces (fmt)
// would make escape analysis move the scans, and the arrays they point
// to, to the heap.
func invalidReason(id []byte, reason string) *Error {
	return &Error{Code: CodeInvalidRequest, Message: "Invalid Request: " + reason, ID: id}
}

func invalidRequest(id []byte, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidRequest, Message: "Invalid Request: " + fmt.Sprintf(format, args...), ID: id}
}
