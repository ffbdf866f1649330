package filter

import (
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/jsonrpc"
)

// Limits of JSON-RPC methods other than tools/call: a call of a method
// listed under "methods" draws from that entry's buckets, and a
// prompts/get or resources/read naming a listed prompt (params.name) or
// resource (params.uri, byte for byte) also from that entry's buckets,
// at that entry's cost. The top-level shared and perUser buckets belong to
// tools/call only.

// otherCall returns the limited call a request of a method other than
// tools/call makes, and whether any limit applies to it.
func (s *settings) otherCall(r *jsonrpc.Request) (toolCall, bool) {
	call := toolCall{other: true}
	if len(s.methods) > 0 {
		// A look-up in a map, even an empty one, is a call in the VM.
		call.method = s.methods[r.Method]
	}
	if r.HasName {
		switch r.Method {
		case config.MethodPromptsGet:
			call.tool = s.prompts[r.Name]
		case config.MethodResourcesRead:
			call.tool = s.resources[r.Name]
		}
	}
	return call, call.method != nil || call.tool != nil
}

// toolCalls counts the tools/call requests among the limited calls: the
// tools_call.* counters count those only.
func (request *examined) toolCalls() uint64 {
	n := uint64(0)
	for _, call := range request.calls {
		if !call.other {
			n++
		}
	}
	return n
}

// namedLimits builds the limits and counters of configured entries, whose
// counters are named prefix + <sanitised name> + ".admitted" or
// ".rejected", with the bucket kinds of their shared and perUser buckets.
func namedLimits(entries []config.Named, prefix string, kind, userKind bucket.Kind) map[string]*toolLimits {
	names := make([]string, len(entries))
	for i, entry := range entries {
		names[i] = entry.Name
	}
	segments := toolMetricSegments(names)
	limits := make(map[string]*toolLimits, len(entries))
	for i, entry := range entries {
		entryPrefix := prefix + segments[i]
		limits[entry.Name] = &toolLimits{
			name:     entry.Name,
			shared:   limitOf(entry.Shared),
			perUser:  limitOf(entry.PerUser),
			cost:     entry.Cost,
			kind:     kind,
			userKind: userKind,
			admitted: defineCounter(entryPrefix + metricToolAdmitted),
			rejected: defineCounter(entryPrefix + metricToolRejected),
		}
	}
	return limits
}
