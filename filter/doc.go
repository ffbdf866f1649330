// Package filter is the proxy-wasm HTTP filter that rate-limits MCP
// requests (tools/call, and the methods, prompts and resources the
// configuration lists): the only package that talks to the proxy-wasm SDK.
// It parses the plugin configuration (package config), reads request
// bodies (package jsonrpc), takes tokens from the buckets, quotas and
// concurrency caps (package bucket) over Envoy shared data or Redis, and
// turns the answers into host actions: let the request through, or answer
// it locally.
//
// An inspected request (a POST under one of the configured paths) is held
// until its whole body is read and the limiter has answered, so nothing
// reaches the upstream before the decision; every other request passes at
// its headers, unbuffered. Which requests are inspected, which buckets a
// call draws from and the replies the filter sends itself are described in
// docs/configuration.md; the metrics in docs/metrics.md.
//
// Files: vm.go and plugin.go the VM and plugin contexts; http.go the
// stream; paths.go and identity.go which requests are inspected and whose
// they are; decide.go what a body asks for; act.go the host actions (local
// replies, admitting, resuming); headers.go the RateLimit headers; bodyencoding.go the headers that
// change how a body is decoded; methods.go, quota.go and inflight.go the
// other methods, calendar quotas and concurrency caps; redis.go and
// higress*.go the Redis store's transports;
// limiter.go and store.go the limiter over shared data; metrics.go the
// counters.
//
// Nothing in this package panics on any input: a panic would trap the VM
// and take down every stream of the worker.
package filter
