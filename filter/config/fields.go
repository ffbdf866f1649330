package config

import (
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
	// The Wasm module leaves the text out (fielddocs.go): there Doc is "".
	Doc string
}

// fieldSpec is one member of a configuration object.
type fieldSpec struct {
	name     string
	typ      string
	required bool
	// def (the default's JSON text) and doc are set by fielddocs.go,
	// outside the Wasm module.
	def, doc string
	members  []fieldSpec // members of an object, or of each array element
	elements bool        // the field is an array of objects with members
}

var bucketMembers = []fieldSpec{
	{name: "maxTokens", typ: "integer", required: true},
	{name: "refillPeriod", typ: "string (Go duration)", required: true},
}

var toolMembers = entryMembers("name", true)

// entryMembers returns the members of a tools, methods, prompts or
// resources entry: the one naming it (nameField), its limits, and cost
// when withCost. Each call makes its own, which fielddocs.go documents
// for that list. Not inlined: its three calls at the package's
// initialisation would each copy it into the module.
//
//go:noinline
func entryMembers(nameField string, withCost bool) []fieldSpec {
	members := []fieldSpec{
		{name: nameField, typ: "string", required: true},
		{name: "shared", typ: "object", members: bucketMembers},
		{name: "perUser", typ: "object", members: bucketMembers},
		{name: "quota", typ: "object", members: quotaMembers},
		{name: "perUserQuota", typ: "object", members: quotaMembers},
		{name: "concurrency", typ: "object", members: concurrencyMembers},
	}
	if withCost {
		members = append(members, fieldSpec{name: "cost", typ: "integer"})
	}
	return members
}

var userIdentityMembers = []fieldSpec{
	{name: "from", typ: "string", required: true},
	{name: "header", typ: "string"},
	{name: "missing", typ: "string"},
}

var rootMembers = []fieldSpec{
	{name: "shared", typ: "object", members: bucketMembers},
	{name: "perUser", typ: "object", members: bucketMembers},
	{name: "quota", typ: "object", members: quotaMembers},
	{name: "perUserQuota", typ: "object", members: quotaMembers},
	{name: "concurrency", typ: "object", members: concurrencyMembers},
	{name: "tools", typ: "array of objects", members: toolMembers, elements: true},
	{name: "methods", typ: "array of objects", members: methodMembers, elements: true},
	{name: "prompts", typ: "array of objects", members: promptMembers, elements: true},
	{name: "resources", typ: "array of objects", members: resourceMembers, elements: true},
	{name: "userIdentity", typ: "object", members: userIdentityMembers},
	{name: "maxTrackedUsers", typ: "integer"},
	{name: "paths", typ: "array of strings"},
	{name: "maxRequestBodyBytes", typ: "integer"},
	{name: "batch", typ: "string"},
	{name: "errorCode", typ: "integer"},
	{name: "rejectStatus", typ: "integer"},
	{name: "dryRun", typ: "boolean"},
	{name: "rateLimitHeaders", typ: "boolean"},
	{name: "redis", typ: "object", members: redisMembers},
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
