# mcp-ratelimit-wasm: the single entry point for building, testing and running.
#
# `make run` and `make test` are the two set-up commands (see README.md).
# Every target is defined once, and its recipe is everything it runs.

GO    ?= go
BUILD ?= build
WASM  := $(BUILD)/mcp-ratelimit.wasm

.PHONY: all build build-unpatched build-hostfloor lint test e2e run demo-server bench bench-filter bench-buckets pgo fuzz image push clean

all: build

# build: $(WASM) with the installed Go (GOOS=wasip1 GOARCH=wasm
# -buildmode=c-shared), proxy-wasm-go-sdk v0.24.0 unchanged plus the glue in
# filter/wasmbuild/_glue, the Go runtime patch for Envoy 1.33-1.38
# (filter/wasmbuild/netpoll.go) and gjson without its path modifiers
# (filter/wasmbuild/gjson.go, which keeps encoding/json out of the module). The recipe always runs: the go command's
# content-addressed cache makes an unchanged rebuild a no-op and, unlike file
# dates, also notices deleted files, a new Go or new glue. See
# filter/wasmbuild/README.md.
WASMBUILD       = $(GO) run ./filter/wasmbuild/cmd/wasmbuild -work $(BUILD)
WASM_UNPATCHED := $(BUILD)/mcp-ratelimit-unpatched.wasm
# WASM_LDFLAGS: empty keeps the wasm "name" section, so a trap in Envoy's log
# names Go functions; -s -w saves little on wasm (see filter/wasmbuild/README.md).
WASM_LDFLAGS   ?=
# PKG: the main package `make build` builds into $(WASM); for example
# `make build PKG=./filter/internal/noop WASM=build/noop.wasm` builds the
# benchmarks' no-op plugin the same way as the filter.
PKG            ?= .
# WASMBUILD_FLAGS: more flags for wasmbuild; `-dispatch-jumps` leaves every
# jump going through Go's dispatch loop (see filter/wasmbuild/README.md,
# "Direct forward jumps"), for comparing builds.
WASMBUILD_FLAGS ?=

build:
	$(WASMBUILD) $(WASMBUILD_FLAGS) -ldflags '$(WASM_LDFLAGS)' -o $(WASM) $(PKG)

# build-higress: the same filter for Higress's Envoy, which lets a Wasm
# filter call Redis itself (proxy_redis_init / proxy_redis_call, build tag
# "higress", filter/higress.go): $(WASM_HIGRESS). Stock Envoy refuses to
# load it (it imports those calls); use $(WASM) there.
WASM_HIGRESS := $(BUILD)/mcp-ratelimit-higress.wasm
.PHONY: build-higress
build-higress:
	GOFLAGS='$(GOFLAGS) -tags=higress' $(WASMBUILD) -ldflags '$(WASM_LDFLAGS)' -o $(WASM_HIGRESS) .

# build-unpatched: the same module with the stock Go runtime, which crashes
# on Envoy 1.33-1.38 ("poll_oneoff failed"); for tests that prove the patch.
build-unpatched:
	$(WASMBUILD) -stock-runtime -ldflags '$(WASM_LDFLAGS)' -o $(WASM_UNPATCHED) .

# build-hostfloor: the benchmarks' host-call floor (filter/internal/hostfloor:
# the filter's host calls for one shared bucket and no other work), built like
# the filter; TestHostFloorMatchesFilter (test) and BenchmarkHostFloorVsNoop
# (bench) run it.
build-hostfloor:
	$(WASMBUILD) -o $(BUILD)/hostfloor.wasm ./filter/internal/hostfloor

# lint: formatting, go vet of the native build, and go vet of the wasip1
# build (the module, the test probe, the benchmarks' host-call floor, and
# the Higress build), which covers the SDK glue too.
GOFMT ?= gofmt
lint:
	@unformatted=$$(find . -path ./$(BUILD) -prune -o -path ./.git -prune -o -path ./e2e/node/node_modules -prune -o -name '*.go' -print | xargs $(GOFMT) -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(WASMBUILD) -vet . ./filter/wasmtest/testdata/probe ./filter/internal/hostfloor
	GOFLAGS='$(GOFLAGS) -tags=higress' $(WASMBUILD) -vet .

# node-deps: the official TypeScript MCP SDK pinned in e2e/node (package.json
# and package-lock.json), installed with `npm ci` when node_modules is
# missing or older than the lockfile; the e2e client tests run it with node.
NODE_DIR     := e2e/node
NODE_MODULES := $(NODE_DIR)/node_modules/.package-lock.json
.PHONY: node-deps
node-deps: $(NODE_MODULES)
$(NODE_MODULES): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "the e2e tests need Node.js 20+ and npm: sudo apt-get install -y nodejs npm" >&2; exit 1; }
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund
	@touch $@

# test: everything CI runs: every test of the repository (unit, compiled
# module, local host, end to end, configuration files, docs), then bucket/
# under the race detector (worker goroutines racing on one store). It needs
# the npm packages of e2e/node (node-deps) and Node.js. The OCI
# image test needs Debian's docker-registry, the Redis tests redis-server
# and webdis; without them those tests fail and name the apt-get command.
test: build build-higress build-hostfloor node-deps
	$(GO) vet ./...
	$(GO) test ./...
	$(GO) test -race -count=1 ./bucket/...

# test-v8: the scenarios of e2e/testdata/scenarios*.json on wazero and on V8
# (Node.js 20+, `apt-get install -y nodejs`), each engine checked against the
# expectations and against the other, the V8 host's unit tests and a short
# run of its benchmark; `go test ./...` in test runs them too. See
# e2e/v8/README.md.
.PHONY: test-v8
test-v8: build
	$(GO) test -count=1 -run '^(TestScenarios|TestRuntimeScenarios|TestV8Host|TestV8Bench)$$' ./e2e/

# e2e: the end-to-end tests alone: the official MCP clients (Go, and
# TypeScript in node) -> local host running $(WASM) -> demo MCP server.
E2E_TIMEOUT ?= 10m
e2e: build build-higress node-deps
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) ./e2e/...

# test-differential: the differential test alone, longer: the corpus and
# DIFF_COUNT mutated requests from the seed DIFF_SEED through the filter to
# every reader (see docs/reading.md). `make test` runs it with 500.
DIFF_SEED  ?= 1
DIFF_COUNT ?= 100000
.PHONY: test-differential
test-differential: build node-deps
	DIFF_SEED=$(DIFF_SEED) DIFF_COUNT=$(DIFF_COUNT) $(GO) test -count=1 -timeout 0 -run '^TestDifferential$$' -v ./e2e/

# run: build the filter, the local proxy-wasm host and the demo MCP server,
# start the demo server (127.0.0.1:8080) and the host in front of it with
# $(RUN_CONFIG) (listener 127.0.0.1:10000, admin 127.0.0.1:9901), print a curl
# line that shows the 429, and stop both on Ctrl-C. See envoy/host/README.md.
RUN_CONFIG    ?= envoy/local.yaml
RUN_WORKERS   ?= 2
ENVOY_VERSION ?= 1.33
HOST_BIN      := $(BUILD)/mcp-ratelimit-host
DEMO_BIN      := $(BUILD)/mcp-demo-server
run: build
	$(GO) build -o $(HOST_BIN) ./envoy/cmd/mcp-ratelimit-host
	$(GO) build -o $(DEMO_BIN) ./e2e/cmd/mcp-demo-server
	@bash envoy/cmd/mcp-ratelimit-host/run.sh $(DEMO_BIN) $(HOST_BIN) $(RUN_CONFIG) \
		--workers $(RUN_WORKERS) --envoy-version $(ENVOY_VERSION)

# run-redis: like run, with the buckets in Redis: starts redis-server
# (127.0.0.1:16379) and webdis (127.0.0.1:7379, $(WEBDIS_CONFIG)) on
# loopback, the demo server, and TWO hosts with $(RUN_REDIS_CONFIG)
# (127.0.0.1:10000 and 127.0.0.1:10001) sharing that Redis; Ctrl-C stops
# everything. Needs the Debian packages redis-server and webdis.
.PHONY: run-redis
RUN_REDIS_CONFIG ?= envoy/local-redis.yaml
WEBDIS_CONFIG    ?= envoy/webdis.json
run-redis: build
	$(GO) build -o $(HOST_BIN) ./envoy/cmd/mcp-ratelimit-host
	$(GO) build -o $(DEMO_BIN) ./e2e/cmd/mcp-demo-server
	@bash envoy/cmd/mcp-ratelimit-host/run-redis.sh $(DEMO_BIN) $(HOST_BIN) $(RUN_REDIS_CONFIG) $(WEBDIS_CONFIG) \
		--workers $(RUN_WORKERS) --envoy-version $(ENVOY_VERSION)

# demo-server: the demo MCP server alone (http://127.0.0.1:8080/mcp).
demo-server:
	$(GO) run ./e2e/cmd/mcp-demo-server --addr 127.0.0.1:8080

# bench: every Go benchmark of the repository, among them the memory of one
# worker VM (10 000 x 1 MiB and 100 000 x 16 KiB bodies under the Envoy 1.33
# profile), BenchmarkVsNoop (each request kind against the no-op plugin
# filter/internal/noop, built here too) and BenchmarkHostFloorVsNoop (the
# filter's host calls alone, build-hostfloor, against the same no-op); the
# output is kept in $(BUILD)/bench.txt.
# docs/benchmarks.md records the figures.
BENCH_FLAGS ?= -run '^$$' -bench . -benchmem -timeout 60m
bench: build build-hostfloor
	@mkdir -p $(BUILD)
	$(WASMBUILD) -o $(BUILD)/noop.wasm ./filter/internal/noop
	bash -o pipefail -c "$(GO) test $(BENCH_FLAGS) ./... 2>&1 | tee $(BUILD)/bench.txt"

# pgo: default.pgo, the profile the filter's build applies to the
# project's packages (filter/wasmbuild/README.md, "Profile-guided
# inlining"): a CPU profile of the native request benchmarks. Refresh and
# commit it when the request path changes.
pgo:
	@mkdir -p $(BUILD)
	$(GO) test ./filter -run '^$$' -bench '^BenchmarkRequest$$' -benchtime 2s -o $(BUILD)/filter.test -cpuprofile default.pgo

# bench-filter: the native request path (admitted, rejected, 16 KiB body,
# not inspected) with allocations.
bench-filter:
	$(GO) test ./filter -run '^$$' -bench '^BenchmarkRequest$$' -benchmem

# bench-buckets: Take over the in-memory store (one bucket, four buckets,
# 10k users), with allocations and store calls per take.
bench-buckets:
	$(GO) test ./bucket/... -run '^$$' -bench . -benchmem

# fuzz: every fuzz target for FUZZTIME each (their seed corpora,
# testdata/fuzz/..., run in every `go test` anyway): the body reader, the
# error reply's copy of plain ids, the config parser and its syntax errors
# against encoding/json's, arbitrary requests through the Go filter under
# the SDK's emulator (no panic, only documented replies, no tools/call
# uncounted), the request headers' body-encoding shortcut against the full
# check, source addresses against net/netip, Base64 against
# encoding/base64, the bucket arithmetic
# against an exact rational token bucket, key escaping, random
# interleavings of workers, webdis and RESP replies to the Redis limiter,
# SHA-256 and HMAC against the standard library, the module's fmt
# against Go's, and the build's jump rewrite (no panic, idempotent).
FUZZTIME ?= 30s
# FUZZTIME may be a duration or a count of inputs (`100000x`). CI uses a
# count: with a duration, Go's fuzzing coordinator can end while a worker is
# still busy and report "context deadline exceeded" as a failure although
# no input failed; a count-bounded run has no deadline to hit.
# FUZZFLAGS: extra go test flags for every fuzz target (CI passes
# -fuzzminimizetime=0, so that a new input is not minimised at length).
FUZZFLAGS ?=
fuzz:
	$(GO) test ./filter/jsonrpc -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter/jsonrpc -run '^$$' -fuzz '^FuzzPlainID$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter/config -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter/config -run '^$$' -fuzz '^FuzzSyntaxError$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzRequestBodyEncoding$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzCanonicalIP$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter/internal/stdbase64 -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket -run '^$$' -fuzz '^FuzzTake$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket -run '^$$' -fuzz '^FuzzEscapeKeyPart$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket -run '^$$' -fuzz '^FuzzInterleavings$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket -run '^$$' -fuzz '^FuzzQuotaWindow$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket/redis -run '^$$' -fuzz '^FuzzParseReply$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket/redis -run '^$$' -fuzz '^FuzzRESPValues$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket/redis -run '^$$' -fuzz '^FuzzDecision$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket/internal/sha256 -run '^$$' -fuzz '^FuzzSum$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter/wasmbuild/internal/fmtlite -run '^$$' -fuzz '^FuzzSprintf$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter/wasmbuild/internal/jumpthread -run '^$$' -fuzz '^FuzzThread$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)

# image: package $(WASM) as an OCI image that Istio's WasmPlugin fetcher
# accepts (the "compat" variant: one tar+gzip layer holding plugin.wasm) in
# the OCI image layout $(IMAGE_LAYOUT), with the standard OCI annotations
# source, version and revision, and print its digest (the WasmPlugin sha256).
# push: push that image to REGISTRY=host[:port]/repository[:tag] (default tag:
# IMAGE_VERSION) with the Docker credentials of ~/.docker/config.json, and
# write $(BUILD)/istio-image.yaml, the istio/image.yaml that points the
# WasmPlugins at it. See docs/istio.md.
IMAGE_LAYOUT   ?= $(BUILD)/oci
IMAGE_SOURCE   ?= https://github.com/mcp-ratelimit/mcp-ratelimit-wasm
IMAGE_VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit date, so that one commit always gives one digest.
IMAGE_CREATED  ?= $(shell git log -1 --format=%cI 2>/dev/null)
IMAGE_TOOL      = $(GO) run ./istio/cmd/mcp-ratelimit-image

image: build
	$(IMAGE_TOOL) build -wasm $(WASM) -out $(IMAGE_LAYOUT) -source '$(IMAGE_SOURCE)' \
		-version '$(IMAGE_VERSION)' -revision '$(IMAGE_REVISION)' $(if $(IMAGE_CREATED),-created '$(IMAGE_CREATED)')

ifneq ($(filter push,$(MAKECMDGOALS)),)
ifeq ($(strip $(REGISTRY)),)
$(error usage: make push REGISTRY=host[:port]/repository[:tag])
endif
endif
push: image
	$(IMAGE_TOOL) push -layout $(IMAGE_LAYOUT) -to '$(REGISTRY)' -patch $(BUILD)/istio-image.yaml

clean:
	rm -rf $(BUILD)
