package config

import "github.com/tidwall/gjson"

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

var (
	methodMembers   = entryMembers("name", false)
	promptMembers   = entryMembers("name", true)
	resourceMembers = entryMembers("uri", true)
)

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
