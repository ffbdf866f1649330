//go:build !wasip1

package config

import (
	"maps"
	"strconv"
)

// The documentation and the default of each configuration field, by
// table and member name: what Fields gives to the documentation and its
// tests. The Wasm module, where only the parser reads the tables, is
// built without this file: the text and the code building it were 17 KB
// of the module.

func init() {
	setDefaults(rootMembers, map[string]string{
		"maxTrackedUsers":     strconv.Itoa(DefaultMaxTrackedUsers),
		"maxRequestBodyBytes": strconv.Itoa(DefaultMaxRequestBodyBytes),
		"batch":               strconv.Quote(string(BatchReject)),
		"errorCode":           strconv.Itoa(DefaultErrorCode),
		"rejectStatus":        strconv.Itoa(DefaultRejectStatus),
		"dryRun":              "false",
		"rateLimitHeaders":    "false",
	})
	for _, entry := range [][]fieldSpec{toolMembers, promptMembers, resourceMembers} {
		setDefaults(entry, map[string]string{"cost": strconv.Itoa(DefaultCost)})
	}
	setDefaults(userIdentityMembers, map[string]string{"missing": strconv.Quote(string(MissingShared))})
	setDefaults(quotaMembers, map[string]string{"timeZone": strconv.Quote(DefaultTimeZone)})
	setDefaults(redisMembers, map[string]string{
		"timeout":          strconv.Quote(DefaultRedisTimeout.String()),
		"keyPrefix":        strconv.Quote(DefaultRedisKeyPrefix),
		"failureMode":      strconv.Quote(string(RedisFailLocal)),
		"rejectLocallyFor": strconv.Quote(DefaultRejectLocallyFor.String()),
	})
	document(bucketMembers, map[string]string{
		"maxTokens":    "Capacity of the bucket, the burst: an integer from 1 to " + strconv.Itoa(MaxMaxTokens) + ". The bucket starts full and a call costs one token.",
		"refillPeriod": `Time in which an empty bucket refills completely, continuously (maxTokens per refillPeriod): a Go duration such as "30s", "1m" or "1h30m", from ` + MinRefillPeriod.String() + " to " + MaxRefillPeriod.String() + " (365 days).",
	})
	document(toolMembers, entryDocs("calls of this tool", "Each tool sets at least one of shared, perUser and cost.", map[string]string{
		"name": "The tool name, matched exactly (case-sensitive) against params.name of tools/call. Unique among tools, non-empty, at most " + strconv.Itoa(MaxToolNameBytes) + " bytes, no control characters or surrounding spaces.",
		"cost": "Tokens one call of this tool takes from every bucket it draws from (shared, perUser and the tool's own): an integer from 1 to " + strconv.Itoa(MaxMaxTokens) + ", at most the maxTokens of each of those buckets.",
	}))
	document(userIdentityMembers, map[string]string{
		"from":    `Where the user identity comes from: "header" (a request header set by a trusted authentication layer, e.g. Istio's outputClaimToHeaders), "peerPrincipal" (the mTLS peer certificate's URI SAN) or "sourceAddress" (the client IP, without port).`,
		"header":  `The request header holding the identity: required with from "header", not allowed otherwise. A valid HTTP header name (RFC 9110 token), matched case-insensitively.`,
		"missing": `What happens to a limited request without an identity: "shared" limits it by the buckets that are not per user only; "anonymous" makes all such requests one user, with one per-user bucket; "reject" answers HTTP 401 with a JSON-RPC error.`,
	})
	document(rootMembers, map[string]string{
		"shared":              "Server-wide bucket: every tools/call draws from it.",
		"perUser":             "Bucket per user: each user's tools/call draw from their own bucket. Requires userIdentity.",
		"quota":               "Server-wide calendar quota of tools/call: at most maxCalls calls a day, week or month, beside the buckets.",
		"perUserQuota":        "Calendar quota per user of tools/call. Requires userIdentity.",
		"concurrency":         "Caps on the tools/call in flight at once, from admission until the response ends however it ends: all callers together (shared) and per user (perUser).",
		"tools":               "Limits of individual tools. At least one of shared, perUser, tools, methods, prompts and resources must be set.",
		"methods":             "Limits of JSON-RPC methods other than tools/call (resources/read, prompts/get, resources/list, ...): each call of a listed method draws from its buckets.",
		"prompts":             "Limits of individual prompts: a prompts/get naming a listed prompt draws from its buckets.",
		"resources":           "Limits of individual resources: a resources/read of a listed URI draws from its buckets.",
		"userIdentity":        "How users are told apart. Required when any perUser limit is set, and not allowed without one (it would have no effect). A request without an identity is handled as missing says.",
		"maxTrackedUsers":     "The most users with their own per-user state (Envoy shared data keys are never deleted, so the state is bounded): an integer from 1 to " + strconv.Itoa(MaxMaxTrackedUsers) + ".",
		"paths":               `Request path prefixes the filter inspects; other requests pass untouched. Absent: every path. When present, at least one entry; each starts with "/", is printable ASCII without spaces, "?" or "#", at most ` + strconv.Itoa(MaxPathBytes) + " bytes, and is not repeated.",
		"maxRequestBodyBytes": "The largest request body the filter buffers and inspects; a larger body is rejected with HTTP 413. An integer from 1 to " + strconv.Itoa(MaxMaxRequestBodyBytes) + " (16 MiB).",
		"batch":               `What happens to JSON-RPC batches: "reject" answers HTTP 400 with -32600; "limit" admits a batch only when every tools/call in it gets its tokens, all or nothing.`,
		"errorCode":           "JSON-RPC error code of a rate-limit rejection: a 32-bit integer, except the codes JSON-RPC 2.0 reserves for pre-defined errors (-32768 to -32100, which include -32700 and -32600 to -32603) and -32020, the filter's Mcp-Method/Mcp-Name header mismatch code.",
		"rejectStatus":        "HTTP status of a rate-limit rejection: 429, or 200 for clients that only read JSON-RPC errors from successful responses (the MCP Go SDK client v1.8 reports a 429 as a transport error without reading the body).",
		"dryRun":              "When true the filter never rejects: it counts and logs what it would have rejected.",
		"rateLimitHeaders":    "When true tools/call responses carry the IETF RateLimit-Policy and RateLimit headers for the tightest bucket.",
		"redis":               "Keep the buckets, calendar quotas and concurrency caps in Redis, reached through webdis, so that every proxy with the same configuration draws from the same ones. Absent: Envoy shared data, one set per proxy.",
	})
	document(concurrencyMembers, map[string]string{
		"shared":  "The most calls in flight at once, all callers together: an integer from 1 to " + strconv.Itoa(MaxConcurrency) + ".",
		"perUser": "The most calls in flight at once per user: an integer from 1 to " + strconv.Itoa(MaxConcurrency) + "; requires userIdentity.",
	})
	document(methodMembers, entryDocs("calls of this method", "Each method sets at least one of shared, perUser, quota and perUserQuota.", map[string]string{
		"name": `The JSON-RPC method, matched exactly (case-sensitive), e.g. "resources/read" or "prompts/get"; not "tools/call", which the top-level shared and perUser limit. Unique among methods, non-empty, at most ` + strconv.Itoa(MaxToolNameBytes) + " bytes, no control characters or surrounding spaces.",
	}))
	document(promptMembers, entryDocs("prompts/get of this prompt", "Each prompt sets at least one of shared, perUser and cost.", map[string]string{
		"name": "The prompt name, matched exactly (case-sensitive) against params.name of prompts/get. Unique among prompts, non-empty, at most " + strconv.Itoa(MaxToolNameBytes) + " bytes, no control characters or surrounding spaces.",
		"cost": methodEntryCostDoc("prompts/get of this prompt", MethodPromptsGet),
	}))
	document(resourceMembers, entryDocs("resources/read of this URI", "Each resource sets at least one of shared, perUser and cost.", map[string]string{
		"uri":  "The resource URI, matched exactly (byte for byte) against params.uri of resources/read. Unique among resources, non-empty, at most " + strconv.Itoa(MaxResourceURIBytes) + " bytes, no control characters or surrounding spaces.",
		"cost": methodEntryCostDoc("resources/read of this URI", MethodResourcesRead),
	}))
	document(quotaMembers, map[string]string{
		"maxCalls": "The most calls in one calendar period: an integer from 1 to " + strconv.Itoa(MaxMaxTokens) + ". Each call counts one, whatever its cost.",
		"period":   `The calendar period the count starts again after: "day" (from midnight), "week" (from Monday's midnight, ISO weeks) or "month" (from the first at midnight), in timeZone.`,
		"timeZone": `The IANA time zone whose midnight starts a period, e.g. "UTC", "Europe/Berlin" or "America/New_York"; daylight-saving changes are followed (a day may last 23 or 25 hours).`,
	})
	document(redisMembers, map[string]string{
		"cluster":          "The Envoy cluster of webdis, the HTTP front of Redis the filter calls (in Istio: outbound|<port>||<host>, e.g. outbound|7379||webdis.mcp.svc.cluster.local). Printable ASCII, at most 256 bytes.",
		"authority":        "The :authority (Host) of the calls to webdis. Absent: the cluster name. Printable ASCII without spaces, at most 256 bytes.",
		"timeout":          "The longest a tools/call waits for Redis before failureMode decides it: a Go duration from " + MinRedisTimeout.String() + " to " + MaxRedisTimeout.String() + ".",
		"keyPrefix":        "Starts every Redis key: 1 to 64 bytes of letters, digits and .:_-.",
		"failureMode":      `What decides a tools/call when Redis or webdis is down, slower than timeout, or answers garbage: "local" (this proxy's shared-data buckets, quotas and caps, same limits), "open" (admit) or "closed" (HTTP 503 with a JSON-RPC error).`,
		"rejectLocallyFor": "How long a worker repeats Redis's rejection of a request, without calling Redis, to the same request (the same limits, tokens and quota window, no concurrency cap), while the rejection's Retry-After has not passed: a Go duration from 0s (call Redis for every request) to " + MaxRejectLocallyFor.String() + ". A key reset in Redis is honoured at most this late.",
		"username":         "webdis HTTP basic auth user name (its ACL's http_basic_auth); requires password. Printable ASCII without ':', at most 256 bytes.",
		"password":         "webdis HTTP basic auth password; requires username. Printable ASCII, at most 256 bytes; never logged.",
	})
}

// entryDocs documents the limits every entry of tools, methods, prompts
// and resources has (see entryMembers), for entries whose calls are
// calls, e.g. "calls of this tool"; atLeast says which members an entry
// must set one of. own adds the entry's other members.
func entryDocs(calls, atLeast string, own map[string]string) map[string]string {
	docs := map[string]string{
		"shared":       "Bucket shared by all " + calls + ". " + atLeast,
		"perUser":      "Bucket per user for " + calls + "; requires userIdentity.",
		"quota":        "Calendar quota of all " + calls + ".",
		"perUserQuota": "Calendar quota per user of " + calls + "; requires userIdentity.",
		"concurrency":  "Caps on the " + calls + " in flight at once (shared, perUser).",
	}
	maps.Copy(docs, own)
	return docs
}

// methodEntryCostDoc documents the cost of a prompts or resources entry,
// whose calls also draw from the buckets of a methods entry of method.
func methodEntryCostDoc(calls, method string) string {
	return "Tokens one " + calls + ` takes from every bucket it draws from (its own and those of a "` + method +
		`" methods entry): an integer from 1 to ` + strconv.Itoa(MaxMaxTokens) + ", at most the maxTokens of each of them."
}

// document sets the doc of each member of specs that docs names, and
// setDefaults its def. A name that is not a member is a mistake in this
// file, caught by every test of the package.
func document(specs []fieldSpec, docs map[string]string) {
	setMembers(specs, "documentation", docs, func(spec *fieldSpec) *string { return &spec.doc })
}

func setDefaults(specs []fieldSpec, defs map[string]string) {
	setMembers(specs, "default", defs, func(spec *fieldSpec) *string { return &spec.def })
}

// setMembers sets field of each member of specs that values names to its
// value; what names the field in the panic of an unknown name.
func setMembers(specs []fieldSpec, what string, values map[string]string, field func(*fieldSpec) *string) {
	for name, value := range values {
		spec := findSpec(specs, name)
		if spec == nil {
			panic("config: " + what + " of " + strconv.Quote(name) + ", which is no member")
		}
		*field(spec) = value
	}
}
