// Package e2e holds the end-to-end tests of mcp-ratelimit-wasm: the official
// MCP Go SDK client talks Streamable HTTP to the local host (package
// envoy/host), which runs the compiled filter build/mcp-ratelimit.wasm the
// way Envoy 1.33 does and proxies to the demo MCP server (package e2e/demo).
// Each test's comment says what it shows; counters are checked both in the
// host's snapshot and on the admin listener's /stats/prometheus.
//
// Run them with `make e2e` (which builds the wasm first) or
// `go test ./e2e/...` after `make build`. They fail, never skip, when the
// wasm file is missing, and fail when goroutines leak.
//
// Besides the tests: demo (the demo MCP server, also what `make run`
// serves) with its command cmd/mcp-demo-server; node (the official
// TypeScript MCP SDK, pinned by package-lock.json); v8 (a proxy-wasm host
// in JavaScript that runs the compiled filter on Node.js, that is on V8)
// and testdata/scenarios.json, the cases both engines run; for the
// differential test, node/differential-server.mjs (the TypeScript SDK's
// servers) and testdata/differential_reader.py (the json.loads reader);
// node/task-server.mjs, a TypeScript SDK server whose tool runs as an MCP
// task, and node/task-client.mjs, the TypeScript client running it;
// node/serve.mjs and node/report.mjs, what the SDK servers and the client
// scripts share.
package e2e
