// Package e2e holds the end-to-end tests of mcp-ratelimit-wasm: the official
// MCP Go SDK client talks Streamable HTTP to the e2e host (package
// envoy/host), which runs the compiled filter build/mcp-ratelimit.wasm the way
// Envoy does and proxies to the demo MCP server (package e2e/demo).
//
// Run them with `make e2e` (which builds the wasm first) or
// `go test ./e2e/...` after `make build`. They fail, never skip, when the
// wasm file is missing, and fail when goroutines leak.
//
// What they cover (issue "End-to-end tests"), test by test:
//
//   - TestSharedLimitWith429: 3 per minute, the 4th call fails in the SDK
//     client as "Too Many Requests", the session stays usable; for both MCP
//     2026-07-28 (the SDK default, stateless) and 2025-11-25 (sessions).
//   - TestSharedLimitWith200: rejectStatus 200 hands the JSON-RPC error,
//     code and data.retryAfterSeconds to the SDK caller.
//   - TestRejectionOnTheWire: the raw reply with net/http inside a session:
//     status, content-type, Retry-After (the real wait), body with the id
//     byte for byte or without id.
//   - TestUnlimitedMethods: initialize, server/discover, tools/list, ping,
//     resources, prompts, notifications, GET and DELETE pass an empty bucket.
//   - TestBucketCombinations: per-tool isolation, shared and per-tool both
//     required (none taken when one rejects), per user from a header, per
//     user per tool; each with its counters.
//   - TestRetryAfterIsHonest: after waiting the advertised seconds, a call
//     passes again.
//   - TestConcurrentClientsOneBucket: 64 clients on 2-4 worker VMs, five
//     runs; exactly the capacity is admitted each time.
//   - TestChunkBoundaries: bodies split at every byte position get the
//     same decisions.
//   - TestServerPushedNotifications, TestProgressStreamsThroughTheFilter:
//     the GET stream, the subscriptions/listen stream and a tools/call SSE
//     response stream through the filter while open.
//   - TestReconfigureKeepsUnchangedBuckets: new plugin configurations keep
//     unchanged buckets, start changed ones full, refuse a bad one.
//   - TestLocalConfigWithDemo: envoy/local.yaml (what `make run` serves) with
//     the demo server shows a 429 after its burst.
//
// Counters are checked both in the host's snapshot and on the admin
// listener's /stats/prometheus, named as Envoy names Wasm stats there.
//
// The subpackages are the pieces: host (the Envoy-like proxy-wasm host),
// demo (the MCP server), cmd/mcp-ratelimit-host and cmd/mcp-demo-server
// (their commands, used by `make run`).
package e2e
