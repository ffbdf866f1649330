package jsonrpc

import (
	"math/bits"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/internal/jsonnum"
)

// The common shape, read in one function.
//
// Nearly every request an MCP client sends is one object with the members
// jsonrpc, id, method and params, in any order, plain names and strings
// (printable ASCII without escapes), a known method, and params holding a
// name or uri and arguments. readQuick reads exactly that shape in one
// function; any other body, and any doubt, goes to the full reader, which
// starts over. In a Wasm VM the full reader's walk costs a call per member
// and per value, each with its jumps through a table, and was the larger
// part of a small request's own cost (docs/benchmarks.md).
//
// readQuick never decides a body the full reader would refuse or read
// otherwise: it gives up on every input the full reader treats specially
// (escapes, non-ASCII text, duplicate or unknown member names, unknown
// methods, a missing method, values of other kinds), so what it accepts
// is a subset where the two must agree. FuzzRead holds it to that: for
// every input readQuick accepts, the full reader returns the same
// request.

// The words of "arguments" (by its first eight bytes: the member names'
// are beside requestMembers), and the key readQuick gives the whole name.
const (
	wordArgument = 'a' | 'r'<<8 | 'g'<<16 | 'u'<<24 | 'm'<<32 | 'e'<<40 | 'n'<<48 | 't'<<56
	// keyArguments stands for "arguments": no name of plain ASCII has
	// this word.
	keyArguments = ^uint64(0)
)

// quickMaxString bounds the strings readQuick reads itself (the jsonrpc
// version, the id, the method, the name or uri): longer ones go to the
// full reader.
const quickMaxString = 256

// readQuick reads body into *request (which must be zero) when it has the
// common shape, its id and name copied into text, and reports whether it
// did; when it did not, it has written neither.
func readQuick(body []byte, request *Request, text *[]byte, stack *containerStack) bool {
	const (
		seenJSONRPC = 1 << iota
		seenID
		seenMethod
		seenParams
		seenName
		seenURI
		seenArguments
	)
	var (
		id, method, name, uri span // values, quotes included
		seen                  uint8
	)
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	depth := 1 // the object whose members are read: 1 the message, 2 its params
	i = skipSpace(body, i+1)
members:
	for {
		// A member: its name, plain and known.
		if i >= len(body) || body[i] != '"' {
			return false
		}
		// A name of up to eight bytes is found in one word here (every
		// name but "arguments"): a call costs more than the word.
		// Its word (see prefixWord) is that one masked to its length.
		var nameEnd int
		var plain bool
		var key uint64
		if i+9 <= len(body) {
			w := load64(body, i+1)
			if stop := specialBits(w) | w&highBits; stop != 0 {
				skip := bits.TrailingZeros64(stop)
				nameEnd = i + 1 + skip>>3
				plain = body[nameEnd] == '"'
				nameEnd++
				key = w & (1<<(skip&^7) - 1)
			}
		}
		if nameEnd == 0 {
			nameEnd, plain = plainStringEnd(body, i)
			if plain {
				key = prefixWord(body[i+1 : nameEnd-1])
			}
		}
		n := nameEnd - i - 2
		if !plain || n > len("arguments") {
			return false
		}
		switch {
		case n == len("arguments") && key == wordArgument && body[nameEnd-2] == 's':
			key = keyArguments
		case n > 8:
			return false
		}
		i = skipSpace(body, nameEnd)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		i = skipSpace(body, i+1)
		if i >= len(body) {
			return false
		}
		var bit uint8 // 0: a name readQuick does not read
		var value *span
		if depth == 1 {
			switch key {
			case wordJSONRPC:
				bit = seenJSONRPC
			case wordID:
				bit, value = seenID, &id
			case wordMethod:
				bit, value = seenMethod, &method
			case wordParams:
				bit = seenParams
			}
		} else {
			switch key {
			case wordName:
				bit, value = seenName, &name
			case wordURI:
				bit, value = seenURI, &uri
			case keyArguments:
				bit = seenArguments
			}
		}
		if bit == 0 || seen&bit != 0 {
			return false // an unknown name, or a second member of that name
		}
		seen |= bit
		// Its value.
		switch {
		case bit == seenParams:
			if body[i] != '{' {
				return false
			}
			i = skipSpace(body, i+1)
			if i >= len(body) || body[i] != '}' {
				depth = 2
				continue members
			}
			i++ // empty params
		case bit == seenArguments:
			end, failure := skipValue(body, i, depth, stack)
			if failure != scanOK {
				return false
			}
			i = end
		case bit == seenID && body[i] != '"':
			end, integer := jsonnum.IntegerEnd(body, i)
			if !integer {
				return false
			}
			id, i = span{i, end}, end
		default:
			// jsonrpc, id, method, name, uri: a plain string.
			if body[i] != '"' {
				return false
			}
			// As the name above.
			var end int
			var plain bool
			if i+9 <= len(body) {
				w := load64(body, i+1)
				if stop := specialBits(w) | w&highBits; stop != 0 {
					end = i + 1 + bits.TrailingZeros64(stop)>>3
					plain = body[end] == '"'
					end++
				}
			}
			if end == 0 {
				end, plain = plainStringEnd(body[:min(len(body), i+quickMaxString)], i)
			}
			if !plain {
				return false
			}
			if value != nil {
				*value = span{i, end}
			}
			i = end
		}
		// After a value: the next member, or the end of an object.
		for {
			i = skipSpace(body, i)
			switch {
			case i >= len(body):
				return false
			case body[i] == ',':
				i = skipSpace(body, i+1)
				continue members
			case body[i] != '}':
				return false
			}
			i++
			if depth == 1 {
				break members
			}
			depth = 1
		}
	}
	if skipSpace(body, i) != len(body) || seen&seenMethod == 0 {
		return false
	}
	// The method, known and plain, so that the full reader's checks of
	// its text all hold.
	m, known := internMethod(body[method.start+1 : method.end-1])
	if known < 0 {
		return false
	}
	// Written only now: the full reader starts over from an untouched
	// request and text.
	if seen&seenID != 0 {
		request.ID = keep(text, body[id.start:id.end])
	}
	request.Method = m
	var named *span
	switch {
	case seen&seenParams == 0:
	case (known == knownToolsCall || known == knownPromptsGet) && seen&seenName != 0:
		named = &name
	case known == knownResourcesRead && seen&seenURI != 0:
		named = &uri
	}
	if named != nil {
		request.Name, request.HasName = view(keep(text, body[named.start+1:named.end-1])), true
		if known == knownToolsCall {
			request.ToolName, request.HasToolName = request.Name, true
		}
	}
	return true
}
