package config

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// This file holds the limits of JSON-RPC methods other than tools/call:
// "methods" (any method), "prompts" (prompts/get by params.name) and
// "resources" (resources/read by params.uri).

// MCP methods whose calls name what they act on.
const (
	MethodToolsCall     = "tools/call"
	MethodPromptsGet    = "prompts/get"
	MethodResourcesRead = "resources/read"
)

// MaxResourceURIBytes bounds a resources entry's URI.
const MaxResourceURIBytes = 2048

var methodMembers = []fieldSpec{
	{name: "name", typ: "string", required: true,
		doc: `The JSON-RPC method, matched exactly (case-sensitive), e.g. "resources/read" or "prompts/get"; not "tools/call", which the top-level shared and perUser limit. Unique among methods, non-empty, at most ` + strconv.Itoa(MaxToolNameBytes) + " bytes, no control characters or surrounding spaces."},
	{name: "shared", typ: "object", members: bucketMembers,
		doc: "Bucket shared by all calls of this method. Each method sets at least one of shared, perUser, quota and perUserQuota."},
	{name: "perUser", typ: "object", members: bucketMembers,
		doc: "Bucket per user for calls of this method; requires userIdentity."},
	{name: "quota", typ: "object", members: quotaMembers,
		doc: "Calendar quota of all calls of this method."},
	{name: "perUserQuota", typ: "object", members: quotaMembers,
		doc: "Calendar quota per user of calls of this method; requires userIdentity."},
	{name: "concurrency", typ: "object", members: concurrencyMembers,
		doc: "Caps on the calls of this method in flight at once (shared, perUser)."},
}

var promptMembers = []fieldSpec{
	{name: "name", typ: "string", required: true,
		doc: "The prompt name, matched exactly (case-sensitive) against params.name of prompts/get. Unique among prompts, non-empty, at most " + strconv.Itoa(MaxToolNameBytes) + " bytes, no control characters or surrounding spaces."},
	{name: "shared", typ: "object", members: bucketMembers,
		doc: "Bucket shared by all prompts/get of this prompt. Each prompt sets at least one of shared, perUser and cost."},
	{name: "perUser", typ: "object", members: bucketMembers,
		doc: "Bucket per user for prompts/get of this prompt; requires userIdentity."},
	{name: "quota", typ: "object", members: quotaMembers,
		doc: "Calendar quota of all prompts/get of this prompt."},
	{name: "perUserQuota", typ: "object", members: quotaMembers,
		doc: "Calendar quota per user of prompts/get of this prompt; requires userIdentity."},
	{name: "concurrency", typ: "object", members: concurrencyMembers,
		doc: "Caps on the prompts/get of this prompt in flight at once (shared, perUser)."},
	{name: "cost", typ: "integer", def: strconv.Itoa(DefaultCost),
		doc: `Tokens one prompts/get of this prompt takes from every bucket it draws from (its own and those of a "prompts/get" methods entry): an integer from 1 to ` + strconv.Itoa(MaxMaxTokens) + ", at most the maxTokens of each of them."},
}

var resourceMembers = []fieldSpec{
	{name: "uri", typ: "string", required: true,
		doc: "The resource URI, matched exactly (byte for byte) against params.uri of resources/read. Unique among resources, non-empty, at most " + strconv.Itoa(MaxResourceURIBytes) + " bytes, no control characters or surrounding spaces."},
	{name: "shared", typ: "object", members: bucketMembers,
		doc: "Bucket shared by all resources/read of this URI. Each resource sets at least one of shared, perUser and cost."},
	{name: "perUser", typ: "object", members: bucketMembers,
		doc: "Bucket per user for resources/read of this URI; requires userIdentity."},
	{name: "quota", typ: "object", members: quotaMembers,
		doc: "Calendar quota of all resources/read of this URI."},
	{name: "perUserQuota", typ: "object", members: quotaMembers,
		doc: "Calendar quota per user of resources/read of this URI; requires userIdentity."},
	{name: "concurrency", typ: "object", members: concurrencyMembers,
		doc: "Caps on the resources/read of this URI in flight at once (shared, perUser)."},
	{name: "cost", typ: "integer", def: strconv.Itoa(DefaultCost),
		doc: `Tokens one resources/read of this URI takes from every bucket it draws from (its own and those of a "resources/read" methods entry): an integer from 1 to ` + strconv.Itoa(MaxMaxTokens) + ", at most the maxTokens of each of them."},
}

var (
	methodList = namedList{what: "method", nameField: "name", example: MethodResourcesRead, members: methodMembers,
		maxName: MaxToolNameBytes, reserved: func(name string) string {
			if name == MethodToolsCall {
				return `must not be "tools/call": the top-level shared and perUser and the tools entries limit it`
			}
			return ""
		}}
	promptList = namedList{what: "prompt", nameField: "name", example: "summarize", members: promptMembers,
		maxName: MaxToolNameBytes, hasCost: true}
	resourceList = namedList{what: "resource", nameField: "uri", example: "file:///report.pdf", members: resourceMembers,
		maxName: MaxResourceURIBytes, hasCost: true}
)

// parseMethods, parsePrompts and parseResources read their arrays.
func parseMethods(path string, v gjson.Result) ([]Named, *Error) {
	return parseNamedList(path, v, methodList)
}

func parsePrompts(path string, v gjson.Result) ([]Named, *Error) {
	return parseNamedList(path, v, promptList)
}

func parseResources(path string, v gjson.Result) ([]Named, *Error) {
	return parseNamedList(path, v, resourceList)
}

// namedLists are the configured lists of named limits with their field
// names, for the checks that involve several fields.
func namedLists(cfg *Config) []namedEntries {
	return []namedEntries{
		{"tools", "tool", cfg.Tools, []bucketAt{{"shared", cfg.Shared}, {"perUser", cfg.PerUser}}},
		{"methods", "method", cfg.Methods, nil},
		{"prompts", "prompt", cfg.Prompts, methodBuckets(cfg, MethodPromptsGet)},
		{"resources", "resource", cfg.Resources, methodBuckets(cfg, MethodResourcesRead)},
	}
}

// namedEntries is one configured list of named limits.
type namedEntries struct {
	field, what string
	list        []Named
	// outer are the other buckets every call of an entry draws from: the
	// top-level ones for tools, those of the method's methods entry for
	// prompts and resources.
	outer []bucketAt
}

// bucketAt is a configured bucket (nil when absent) and its path.
type bucketAt struct {
	path string
	b    *Bucket
}

// checkCosts refuses an entry whose cost exceeds the capacity of a bucket
// its calls draw from: such a call could never be admitted.
func checkCosts(cfg *Config) *Error {
	for _, l := range namedLists(cfg) {
		for i, entry := range l.list {
			entryPath := indexPath(l.field, i)
			buckets := append([]bucketAt{{joinPath(entryPath, "shared"), entry.Shared}, {joinPath(entryPath, "perUser"), entry.PerUser}}, l.outer...)
			for _, b := range buckets {
				if b.b != nil && b.b.MaxTokens < entry.Cost {
					return errorf(joinPath(entryPath, "cost"),
						"%d is more than %s.maxTokens %d: a call of %s %s could never be admitted; lower the cost or raise maxTokens",
						entry.Cost, b.path, b.b.MaxTokens, l.what, quoted(entry.Name))
				}
			}
		}
	}
	return nil
}

// methodBuckets lists the buckets of the methods entry of method.
func methodBuckets(cfg *Config, method string) []bucketAt {
	for i, m := range cfg.Methods {
		if m.Name == method {
			path := indexPath("methods", i)
			return []bucketAt{{joinPath(path, "shared"), m.Shared}, {joinPath(path, "perUser"), m.PerUser}}
		}
	}
	return nil
}
