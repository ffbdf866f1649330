# mcp-ratelimit-wasm: the single entry point for building, testing and running.
#
# `make run` and `make test` are the two set-up commands (see README.md);
# each section below says what its targets do.

GO    ?= go
BUILD ?= build
WASM  := $(BUILD)/mcp-ratelimit.wasm

.PHONY: all build test unit e2e run bench fuzz lint image push clean

all: build

# --- build: the module, lint ---
# build: $(WASM) with the installed Go (GOOS=wasip1 GOARCH=wasm
# -buildmode=c-shared), proxy-wasm-go-sdk v0.24.0 unchanged plus the glue in
# filter/_sdkglue, and the Go runtime patch for Envoy 1.33-1.38. wasmbuild
# prepares $(BUILD)/sdk (SDK copy + glue), $(BUILD)/go.work and
# $(BUILD)/runtime-overlay.json, rewriting only what changed, then runs
# `go build -trimpath -overlay=...`. The recipe always runs: the go command's
# content-addressed cache makes an unchanged rebuild a no-op (0.2-2 s) and,
# unlike file dates, also notices deleted files, a new Go or new glue.
# See filter/_sdkglue/README.md.
WASMBUILD        = $(GO) run ./filter/internal/wasmtest/cmd/wasmbuild -work $(BUILD)
WASM_UNPATCHED  := $(BUILD)/mcp-ratelimit-unpatched.wasm
# WASM_LDFLAGS: empty keeps the wasm "name" section, so a trap in Envoy's log
# names Go functions; -s -w saves little on wasm (see the README).
WASM_LDFLAGS    ?=

build:
	$(WASMBUILD) -ldflags '$(WASM_LDFLAGS)' -o $(WASM) .

# build-unpatched: the same module with the stock Go runtime, which crashes
# on Envoy 1.33-1.38 ("poll_oneoff failed"); for tests that prove the patch.
.PHONY: build-unpatched
build-unpatched:
	$(WASMBUILD) -stock-runtime -ldflags '$(WASM_LDFLAGS)' -o $(WASM_UNPATCHED) .

# lint: formatting, go vet of the native build, and go vet of the wasip1
# build (the module and the test probe), which covers the SDK glue too.
GOFMT ?= gofmt
lint:
	@unformatted=$$(find . -path ./$(BUILD) -prune -o -path ./.git -prune -o -name '*.go' -print | xargs $(GOFMT) -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(WASMBUILD) -vet . ./filter/internal/wasmtest/testdata/probe
# --- end of build ---

# deps: system packages the tests need, installed with apt-get when missing
# (as root; otherwise it prints the command): docker-registry, the OCI
# registry the image test pushes to and pulls from.
.PHONY: deps
deps:
	@if ! command -v docker-registry >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing docker-registry (apt-get)"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry; \
		else \
			echo "make test needs docker-registry: sudo apt-get install -y docker-registry" >&2; exit 1; \
		fi; \
	fi

# test: everything CI runs.
test: deps build
	$(GO) vet ./...
	$(GO) test ./...

# --- demo: end-to-end tests and the demo MCP server ---
# e2e: the official MCP Go SDK client -> e2e host running $(WASM) -> demo
# MCP server. They fail (never skip) without the wasm, hence `build` first.
E2E_TIMEOUT ?= 10m
e2e: build
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) ./e2e/...

# demo-server: run the demo MCP server alone (http://127.0.0.1:8080/mcp).
.PHONY: demo-server
demo-server:
	$(GO) run ./e2e/cmd/mcp-demo-server --addr 127.0.0.1:8080
# --- end of demo ---

# --- host: `make run` and `make bench` ---
# run: build the filter, the local proxy-wasm host and the demo MCP server,
# start the demo server (127.0.0.1:8080) and the host in front of it with
# $(RUN_CONFIG) (listener 127.0.0.1:10000, admin 127.0.0.1:9901), print a curl
# line that shows the 429, and stop both on Ctrl-C. See e2e/host/README.md.
RUN_CONFIG    ?= envoy/local.yaml
RUN_WORKERS   ?= 2
ENVOY_VERSION ?= 1.33
HOST_BIN      := $(BUILD)/mcp-ratelimit-host
DEMO_BIN      := $(BUILD)/mcp-demo-server
run: build
	$(GO) build -o $(HOST_BIN) ./e2e/cmd/mcp-ratelimit-host
	$(GO) build -o $(DEMO_BIN) ./e2e/cmd/mcp-demo-server
	@bash e2e/cmd/mcp-ratelimit-host/run.sh $(DEMO_BIN) $(HOST_BIN) $(RUN_CONFIG) \
		--workers $(RUN_WORKERS) --envoy-version $(ENVOY_VERSION)

# bench: every Go benchmark of the repository, among them the memory
# benchmarks of one worker VM (issue 2: 10 000 x 1 MiB and 100 000 x 16 KiB
# bodies under the Envoy 1.33 profile); the output is kept in
# $(BUILD)/bench.txt. docs/benchmarks.md records the figures.
BENCH_FLAGS ?= -run '^$$' -bench . -benchmem -timeout 60m
bench: build
	@mkdir -p $(BUILD)
	bash -o pipefail -c "$(GO) test $(BENCH_FLAGS) ./... 2>&1 | tee $(BUILD)/bench.txt"
# --- end of host ---

# --- ship: the OCI image Istio pulls ---
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
IMAGE_TOOL      = $(GO) run ./e2e/cmd/mcp-ratelimit-image

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
# --- end of ship ---

# --- parsing: fuzzing filter/jsonrpc and filter/config ---
# fuzz-parsing: run the body reader's and the config parser's fuzz targets
# for FUZZTIME each (the CI's brief run). Their seed corpora
# (testdata/fuzz/...) run in every `go test` anyway.
FUZZTIME ?= 30s
# FUZZFLAGS: extra go test flags for every fuzz target. CI passes
# -fuzzminimizetime=0: with a short -fuzztime, Go's fuzzing coordinator can
# end while a worker still minimizes a new-coverage input and then reports
# "context deadline exceeded" as a failure although nothing failed.
FUZZFLAGS ?=
.PHONY: fuzz-parsing
fuzz: fuzz-parsing
fuzz-parsing:
	$(GO) test ./filter/jsonrpc -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./filter/config -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
# --- end of parsing ---

# --- filter: fuzzing and benchmarking filter/ ---
# fuzz-filter: arbitrary requests (body, chunking, path, Mcp-* and identity
# headers) through the Go filter under the SDK's emulator, for FUZZTIME: no
# panic, only documented replies, no tools/call passes uncounted.
# bench-filter: the native request path (admitted, rejected, 16 KiB body,
# not inspected) with allocations.
.PHONY: fuzz-filter bench-filter
fuzz: fuzz-filter
fuzz-filter:
	$(GO) test ./filter -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
bench-filter:
	$(GO) test ./filter -run '^$$' -bench '^BenchmarkRequest$$' -benchmem
# --- end of filter ---

# --- buckets: race tests, fuzzing and benchmarks of bucket/ ---
# test-buckets-race: bucket/ under the race detector (worker goroutines
# racing on one store: exact capacity, per-user window bounds); part of test.
# fuzz-buckets: the arithmetic against an exact rational token bucket, key
# escaping, random interleavings of workers, and the calendar windows of
# quotas, FUZZTIME each.
# bench-buckets: Take over the in-memory store (one bucket, four buckets,
# 10k users), with allocations and store calls per take.
.PHONY: test-buckets-race fuzz-buckets bench-buckets
test: test-buckets-race
fuzz: fuzz-buckets
test-buckets-race:
	$(GO) test -race -count=1 ./bucket/...
fuzz-buckets:
	$(GO) test ./bucket -run '^$$' -fuzz '^FuzzTake$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket -run '^$$' -fuzz '^FuzzEscapeKeyPart$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket -run '^$$' -fuzz '^FuzzInterleavings$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
	$(GO) test ./bucket -run '^$$' -fuzz '^FuzzQuotaWindow$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS)
bench-buckets:
	$(GO) test ./bucket/... -run '^$$' -bench . -benchmem
# --- end of buckets ---

clean:
	rm -rf $(BUILD)
