package config

import (
	"strconv"
	"time"
)

// Bounds of the numeric fields.
const (
	// MaxMaxTokens bounds maxTokens. With at most 1e9 tokens, a bucket's
	// level in nano-tokens (tokens x 1e9) stays below 2^63, so fixed-point
	// bucket arithmetic in int64 is exact.
	MaxMaxTokens = 1_000_000_000
	// MinRefillPeriod bounds refillPeriod from below: a shorter period
	// cannot be told apart from no limit.
	MinRefillPeriod = time.Millisecond
	// MaxRefillPeriod bounds refillPeriod from above (365 days): refill
	// times stay far below the ~292 years int64 nanoseconds can hold, and
	// MaxMaxTokens x MaxRefillPeriod in nanoseconds fits in 128 bits.
	MaxRefillPeriod = 365 * 24 * time.Hour
	// MaxMaxTrackedUsers bounds maxTrackedUsers. Envoy shared data keys can
	// never be deleted, so every tracked user costs memory in every Envoy
	// process for as long as the VM lives.
	MaxMaxTrackedUsers = 1_000_000
	// MaxMaxRequestBodyBytes bounds maxRequestBodyBytes (16 MiB). The
	// filter holds the whole body in the Wasm VM's linear memory, which
	// never shrinks and exists once per Envoy worker; Envoy's own buffer
	// limit (per_connection_buffer_limit_bytes, 1 MiB by default) must be
	// raised too for bodies above it.
	MaxMaxRequestBodyBytes = 16 << 20
	// MaxToolNameBytes bounds a tool name's length (MCP recommends tool
	// names of 1 to 128 characters).
	MaxToolNameBytes = 256
	// MaxPathBytes bounds one paths entry.
	MaxPathBytes = 1024
)

// Field describes one configuration field, for documentation and tests.
type Field struct {
	// Path locates the field: members of objects are joined with ".",
	// array elements are written "[]", e.g. "tools[].perUser.refillPeriod".
	Path string
	// Type is the JSON type: "object", "array of objects",
	// "array of strings", "string", "integer" or "boolean"; a string with a
	// special format says so, e.g. "string (Go duration)".
	Type string
	// Required is true when the field must be present whenever the object
	// holding it is.
	Required bool
	// Default is the JSON text of the value used when the field is
	// absent, or "" when absence means "not configured".
	Default string
	// Doc describes the field in one or two sentences, with its bounds.
	Doc string
}

// fieldSpec is one member of a configuration object.
type fieldSpec struct {
	name     string
	typ      string
	required bool
	def      string
	doc      string
	members  []fieldSpec // members of an object, or of each array element
	elements bool        // the field is an array of objects with members
}

var bucketMembers = []fieldSpec{
	{name: "maxTokens", typ: "integer", required: true,
		doc: "Capacity of the bucket, the burst: an integer from 1 to " + strconv.Itoa(MaxMaxTokens) + ". The bucket starts full and a call costs one token."},
	{name: "refillPeriod", typ: "string (Go duration)", required: true,
		doc: `Time in which an empty bucket refills completely, continuously (maxTokens per refillPeriod): a Go duration such as "30s", "1m" or "1h30m", from ` + MinRefillPeriod.String() + " to " + MaxRefillPeriod.String() + " (365 days)."},
}

var toolMembers = []fieldSpec{
	{name: "name", typ: "string", required: true,
		doc: "The tool name, matched exactly (case-sensitive) against params.name of tools/call. Unique among tools, non-empty, at most " + strconv.Itoa(MaxToolNameBytes) + " bytes, no control characters or surrounding spaces."},
	{name: "shared", typ: "object", members: bucketMembers,
		doc: "Bucket shared by all calls of this tool. Each tool sets at least one of shared, perUser and cost."},
	{name: "perUser", typ: "object", members: bucketMembers,
		doc: "Bucket per user for calls of this tool; requires userIdentity."},
	{name: "quota", typ: "object", members: quotaMembers,
		doc: "Calendar quota of all calls of this tool."},
	{name: "perUserQuota", typ: "object", members: quotaMembers,
		doc: "Calendar quota per user of calls of this tool; requires userIdentity."},
	{name: "concurrency", typ: "object", members: concurrencyMembers,
		doc: "Caps on the calls of this tool in flight at once (shared, perUser)."},
	{name: "cost", typ: "integer", def: strconv.Itoa(DefaultCost),
		doc: "Tokens one call of this tool takes from every bucket it draws from (shared, perUser and the tool's own): an integer from 1 to " + strconv.Itoa(MaxMaxTokens) + ", at most the maxTokens of each of those buckets."},
}

var userIdentityMembers = []fieldSpec{
	{name: "from", typ: "string", required: true,
		doc: `Where the user identity comes from: "header" (a request header set by a trusted authentication layer, e.g. Istio's outputClaimToHeaders), "peerPrincipal" (the mTLS peer certificate's URI SAN) or "sourceAddress" (the client IP, without port).`},
	{name: "header", typ: "string",
		doc: `The request header holding the identity: required with from "header", not allowed otherwise. A valid HTTP header name (RFC 9110 token), matched case-insensitively.`},
	{name: "missing", typ: "string", def: strconv.Quote(string(MissingShared)),
		doc: `What happens to a limited request without an identity: "shared" limits it by the buckets that are not per user only; "anonymous" makes all such requests one user, with one per-user bucket; "reject" answers HTTP 401 with a JSON-RPC error.`},
}

var rootMembers = []fieldSpec{
	{name: "shared", typ: "object", members: bucketMembers,
		doc: "Server-wide bucket: every tools/call draws from it."},
	{name: "perUser", typ: "object", members: bucketMembers,
		doc: "Bucket per user: each user's tools/call draw from their own bucket. Requires userIdentity."},
	{name: "quota", typ: "object", members: quotaMembers,
		doc: "Server-wide calendar quota of tools/call: at most maxCalls calls a day, week or month, beside the buckets."},
	{name: "perUserQuota", typ: "object", members: quotaMembers,
		doc: "Calendar quota per user of tools/call. Requires userIdentity."},
	{name: "concurrency", typ: "object", members: concurrencyMembers,
		doc: "Caps on the tools/call in flight at once, from admission until the response ends however it ends: all callers together (shared) and per user (perUser)."},
	{name: "tools", typ: "array of objects", members: toolMembers, elements: true,
		doc: "Limits of individual tools. At least one of shared, perUser, tools, methods, prompts and resources must be set."},
	{name: "methods", typ: "array of objects", members: methodMembers, elements: true,
		doc: "Limits of JSON-RPC methods other than tools/call (resources/read, prompts/get, resources/list, ...): each call of a listed method draws from its buckets."},
	{name: "prompts", typ: "array of objects", members: promptMembers, elements: true,
		doc: "Limits of individual prompts: a prompts/get naming a listed prompt draws from its buckets."},
	{name: "resources", typ: "array of objects", members: resourceMembers, elements: true,
		doc: "Limits of individual resources: a resources/read of a listed URI draws from its buckets."},
	{name: "userIdentity", typ: "object", members: userIdentityMembers,
		doc: "How users are told apart. Required when any perUser limit is set, and not allowed without one (it would have no effect). A request without an identity is handled as missing says."},
	{name: "maxTrackedUsers", typ: "integer", def: strconv.Itoa(DefaultMaxTrackedUsers),
		doc: "The most users with their own per-user state (Envoy shared data keys are never deleted, so the state is bounded): an integer from 1 to " + strconv.Itoa(MaxMaxTrackedUsers) + "."},
	{name: "paths", typ: "array of strings",
		doc: `Request path prefixes the filter inspects; other requests pass untouched. Absent: every path. When present, at least one entry; each starts with "/", is printable ASCII without spaces, "?" or "#", at most ` + strconv.Itoa(MaxPathBytes) + " bytes, and is not repeated."},
	{name: "maxRequestBodyBytes", typ: "integer", def: strconv.Itoa(DefaultMaxRequestBodyBytes),
		doc: "The largest request body the filter buffers and inspects; a larger body is rejected with HTTP 413. An integer from 1 to " + strconv.Itoa(MaxMaxRequestBodyBytes) + " (16 MiB)."},
	{name: "batch", typ: "string", def: strconv.Quote(string(BatchReject)),
		doc: `What happens to JSON-RPC batches: "reject" answers HTTP 400 with -32600; "limit" admits a batch only when every tools/call in it gets its tokens, all or nothing.`},
	{name: "errorCode", typ: "integer", def: strconv.Itoa(DefaultErrorCode),
		doc: "JSON-RPC error code of a rate-limit rejection: a 32-bit integer, except the codes JSON-RPC 2.0 reserves for pre-defined errors (-32768 to -32100, which include -32700 and -32600 to -32603) and -32020, the filter's Mcp-Method/Mcp-Name header mismatch code."},
	{name: "rejectStatus", typ: "integer", def: strconv.Itoa(DefaultRejectStatus),
		doc: "HTTP status of a rate-limit rejection: 429, or 200 for clients that only read JSON-RPC errors from successful responses (the MCP Go SDK client v1.8 reports a 429 as a transport error without reading the body)."},
	{name: "dryRun", typ: "boolean", def: "false",
		doc: "When true the filter never rejects: it counts and logs what it would have rejected."},
	{name: "rateLimitHeaders", typ: "boolean", def: "false",
		doc: "When true tools/call responses carry the IETF RateLimit-Policy and RateLimit headers for the tightest bucket."},
	{name: "redis", typ: "object", members: redisMembers,
		doc: "Keep the buckets, calendar quotas and concurrency caps in Redis, reached through webdis, so that every proxy with the same configuration draws from the same ones. Absent: Envoy shared data, one set per proxy."},
}

// Fields lists every configuration field, parents before their members,
// in the order of the documentation.
func Fields() []Field {
	var out []Field
	var walk func(prefix string, members []fieldSpec)
	walk = func(prefix string, members []fieldSpec) {
		for _, m := range members {
			path := prefix + m.name
			out = append(out, Field{Path: path, Type: m.typ, Required: m.required, Default: m.def, Doc: m.doc})
			switch {
			case m.elements:
				walk(path+"[].", m.members)
			case m.members != nil:
				walk(path+".", m.members)
			}
		}
	}
	walk("", rootMembers)
	return out
}

// FieldPaths lists the path of every configuration field, as in Fields,
// e.g. "shared", "shared.maxTokens", "tools[].name".
func FieldPaths() []string {
	fields := Fields()
	paths := make([]string, len(fields))
	for i, f := range fields {
		paths[i] = f.Path
	}
	return paths
}
