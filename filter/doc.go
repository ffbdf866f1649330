// Package filter is the proxy-wasm HTTP filter that rate-limits MCP
// requests (tools/call, and the methods the configuration lists): the only
// package that talks to the proxy-wasm SDK.
// It reads the plugin configuration (package config), reads request bodies
// (package jsonrpc), asks the token buckets (package bucket) over Envoy
// shared data, and turns the answers into host actions.
//
// # Contexts
//
// NewVMContext returns the VM context; each plugin context (one per filter
// configuration per worker VM) parses its configuration in OnPluginStart
// and refuses a bad one with one log line naming the field and the value,
// so that Envoy rejects it. The plugin's root id (property plugin_root_id:
// Envoy's root_id, Istio's pluginName; else plugin_name; else "default")
// namespaces its shared-data keys and its metrics (METRICS.md).
//
// # Which requests are inspected
//
// Only POST requests (method compared case-insensitively) whose path lies
// under one of the configured paths, after normalisation (see paths.go:
// query dropped, percent-decoding, "\" as "/", ";params" dropped, ASCII
// lower-case, dot segments and repeated slashes resolved, segment-wise
// prefix). Everything else (SSE GETs, DELETE of a session, health checks,
// other paths) continues at the request headers and is never buffered.
// Operators should also set normalize_path, merge_slashes and
// path_with_escaped_slashes_action on Envoy's HTTP connection manager so
// that the server routes on what the filter matched.
//
// An inspected request is held: OnHttpRequestHeaders returns ActionPause
// and OnHttpRequestBody returns ActionPause until the end of the stream,
// however the body is chunked, so nothing reaches the upstream before the
// decision. A request that ends with trailers is decided in
// OnHttpRequestTrailers. A POST without a body is decided on the empty
// body. The body is read once, at the end of the stream, and no reference
// to it is kept; after a body over 256 KiB the filter runs the garbage
// collector, because a Wasm VM's memory never shrinks.
//
// # Decision
//
// tools/call takes tokens, and so do the methods, prompts and resources
// the configuration lists (methods.go). A call takes its cost (its tool's
// "cost", else one token) from every bucket that applies: the shared
// bucket; the user's bucket when the request has an identity (header, mTLS
// peer URI SAN, or client IP without port; without one, as
// userIdentity.missing says: identity.go); and for a tool listed in the
// configuration its shared bucket and the user's bucket for it. A
// tools/call without a string name, or naming a tool the configuration
// does not list, takes from the shared and the user's bucket only. Beside
// the buckets, each call counts one against every calendar quota
// (quota.go) and holds a place under every concurrency cap (inflight.go)
// that applies, until its stream ends. A batch (batch "limit") needs the
// sum of its calls' demands, all or nothing. dryRun admits what it would
// reject, counting and logging it.
//
// The limiter may answer inside Take (shared data) or later (a store behind
// a network round trip): the request is then held, and the answer resumes
// it (proxywasm.ResumeHttpRequest) or replies, after making the stream the
// effective context. If the limiter fails, the request is admitted and
// counted under store.errors (fail open, as Envoy's rate limit filter does
// by default).
//
// # Local replies
//
// Every reply the filter sends itself is JSON with content-type
// application/json, except the empty body of a rejected batch made of
// notifications only:
//
//	status        JSON-RPC code  id               when
//	400           -32700         null             the body is not JSON (an empty body included)
//	400           -32600         request's / null the body is JSON a server could read differently, or no JSON-RPC request
//	400           -32600         null             a batch, with batch "reject"
//	400           -32020         request's / null Mcp-Method / Mcp-Name disagree with the body (null for a batch)
//	413           -32600         null             body (or content-length) above maxRequestBodyBytes
//	415           -32600         null             a charset, content coding or repeated header a server could decode the body with (docs/reading.md)
//	401           -32600         request's        no user identity, with userIdentity.missing "reject"
//	rejectStatus  errorCode      request's        a bucket has no token or a quota is spent; no id member for a notification
//	rejectStatus  errorCode      request's        a concurrency cap is full ("Too many concurrent calls", no retry-after)
//	500           -32603         null             the host would not hand over the buffered body
//
// A rate-limit reply carries retry-after: N, the whole seconds (rounded up,
// at least 1) until every rejecting bucket has its tokens again, and the
// error data {"retryAfterSeconds": N}. For a batch it is a JSON array with
// one such error per request that has an id; a batch of notifications only
// gets no body (JSON-RPC 2.0 section 6 returns nothing for it).
//
// rejectStatus is 429 (default) or 200. With 429, HTTP-aware clients and
// proxies see a standard "Too Many Requests", but the official Go SDK
// client (v1.8, mcp/streamable.go) treats 429 as a transport error: the
// call fails with "Too Many Requests" and the JSON-RPC body with its
// retryAfterSeconds is never read. With 200 the client hands the JSON-RPC
// error, its code and data to the caller (the agent sees why and for how
// long), at the price of a success status for intermediaries and logs.
//
// With rateLimitHeaders, responses to tools/call (admitted and rejected)
// carry RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-
// headers-11) for the tightest bucket; see headers.go.
//
// Nothing in this package panics on any input: a panic would trap the VM
// and take down every stream of the worker.
package filter
