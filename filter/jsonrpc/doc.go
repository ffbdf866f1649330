// Package jsonrpc reads MCP JSON-RPC request bodies the way an MCP server
// will, and writes the error replies the filter sends.
//
// It is plain Go (the standard library, and gjson for the replies; no
// proxy-wasm SDK).
//
// # Reading the same thing as the server
//
// A rate limiter in front of an MCP server is only as good as its reading
// of the body: if it sees "tools/list" where the server executes a
// "tools/call", or tool "a" where the server runs tool "b", the call goes
// uncounted. JSON parsers disagree on a number of inputs, so [Read] reads
// every input the way all common parsers do, and refuses the inputs where
// they do not agree. Names and values are compared after decoding escapes
// ("\u006dethod" is "method", "tools\/call" is "tools/call"), as every
// parser does.
//
// Refused with [CodeParseError] (-32700):
//   - an empty body, or one that is only whitespace;
//   - a body starting with a UTF-8 byte order mark (RFC 8259, section 8.1:
//     some parsers skip it, others fail);
//   - arrays and objects nested deeper than [MaxDepth] (1000) levels (the
//     official MCP Go SDK has the same bound);
//   - anything that is not exactly one JSON text per RFC 8259 (the grammar
//     gjson.ValidBytes checks; the tests hold Read to it): syntax errors,
//     comments, trailing commas, raw control characters (NUL included)
//     in strings, and trailing data after the value ("{}{}", "{} x"),
//     which a streaming decoder such as Go's json.Decoder would silently
//     ignore.
//
// Refused with [CodeInvalidRequest] (-32600):
//   - a top-level value that is not an object or an array;
//   - an empty batch "[]" (JSON-RPC 2.0, section 6), a batch with more than
//     [MaxBatchLength] (1000) messages, and a batch with any element that
//     is not an object or that is refused for one of the reasons below
//     (the whole batch is refused);
//   - in a message object, or in the params object of tools/call,
//     prompts/get and resources/read, a member name with invalid UTF-8, a
//     lone UTF-16 surrogate escape or an escaped NUL (parsers replace,
//     keep, drop or truncate these);
//   - in the same objects, two members with the same (decoded) name
//     (first-wins and last-wins parsers read different values);
//   - in the same objects, a member name that differs from "jsonrpc", "method", "params", "id"
//     (message) or "name", "uri" (params) only in case, in Unicode case
//     folding ("ſ" for "s", "K" for "k") or in '-' and '_': Go's
//     encoding/json matches struct fields case-insensitively, the official
//     MCP Go SDK matches them exactly;
//   - a "method" that is not a string (null included), that has invalid
//     UTF-8, a lone surrogate escape or an escaped NUL, that is longer than
//     [MaxNameBytes] (8192) bytes, or that differs from "tools/call" only in
//     case;
//   - a params.name (tools/call, prompts/get) or params.uri (resources/read)
//     string with invalid UTF-8, a lone surrogate escape or an escaped NUL,
//     or longer than [MaxNameBytes] bytes.
//
// Not refused, because no parser reads them differently in a way that
// changes what the filter reads: invalid UTF-8 or lone surrogates inside
// other strings (tool arguments), huge numbers, any "jsonrpc" value (the
// server checks it), duplicate or odd names inside nested objects other
// than params. A message without "method" is a response (the client
// answering a server request) and is returned with Method "". A tools/call
// whose params is missing or not an object, or whose params.name is missing
// or not a string, is still a tools/call with HasToolName false: the filter
// counts it against the server-wide buckets.
//
// # Memory
//
// Read runs for every request inside a 32-bit Wasm VM whose memory never
// shrinks. It walks the body once (validation, depth and members in one
// pass, iteratively, so no input can exhaust the stack) and in place: it
// never copies it, unescapes only the few strings it needs (into a stack
// buffer when short), and copies out only the id, the method (unless it
// is a known MCP method) and the name. A small tools/call costs at most four
// small allocations, whatever the size of its arguments, and none with
// [ReadInto] in memory the caller lends (a [Scratch] among it); Read keeps
// no reference to the body.
//
// # Speed
//
// The body most clients send (one object of jsonrpc, id, method and
// params, plain names and strings, a known method) is read by one
// function, readQuick; any other body by the full walk, which starts
// over. readQuick only reads bodies on which the two agree, and the fuzz
// test holds it to that. Both look at eight bytes at a time where they
// can: in a Wasm VM every turn of a Go loop is a jump through a table.
//
// # Replies
//
// [ErrorResponse] and [RateLimitData] write compact, valid JSON: the
// message is escaped, the id is echoed byte for byte, and a null or
// unreadable id is left out (MCP ids are strings or numbers).
package jsonrpc
