# otelcol-agent build, test and developer tasks.
#
# Nothing is assumed to be installed except Go, make and git: pinned tools
# (builder, mdatagen) are built from internal/tools/go.mod into ./bin.

SHELL        := /usr/bin/env bash
.SHELLFLAGS  := -eu -o pipefail -c
GO           ?= go
BIN_DIR      := $(abspath bin)
COLLECTOR    := $(BIN_DIR)/otelcol-agent
BUILDER      := $(BIN_DIR)/builder
MDATAGEN     := $(BIN_DIR)/mdatagen
# The same flags every time, so warm rebuilds only relink. -trimpath goes
# into GOFLAGS so that vet and test share the build cache with the binary
# (otherwise the whole collector dependency tree is compiled twice).
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)
GO_BUILD_FLAGS := -ldflags=-s\ -w
GEN_DIR      := cmd/otelcol-agent
CONFIG       ?= config/default.yaml
# Packages with our own mdatagen metadata.yaml.
METADATA_DIRS := $(patsubst %/metadata.yaml,%,$(wildcard processor/*/metadata.yaml connector/*/metadata.yaml))
GO_TEST_FLAGS ?= -count=1
# The Go modules of this repository: the distribution (root), the shared
# conventions code, and one module per component, as contrib lays them out.
# go test/vet ./... in the root does not enter the nested ones.
MODULES      := . internal processor/agentsemconvprocessor connector/agentmetricsconnector
# An execution count, not a duration: with -fuzztime=<duration> Go 1.26's
# fuzz coordinator can report a spurious "context deadline exceeded" at the
# deadline (golang/go#75804, fixed in Go 1.27), and every fuzz failure now
# fails the target.
FUZZ_TIME    ?= 10000x

.PHONY: prices all run check-run deps check-alerting build tools generate check-generated lint test unit-test e2e-test fuzz bench clean

all: build

## tools: build the pinned builder and mdatagen into ./bin
tools: $(BUILDER) $(MDATAGEN)

$(BUILDER): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o $(BUILDER) go.opentelemetry.io/collector/cmd/builder

$(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o $(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen

## generate: regenerate cmd/otelcol-agent (builder) and component metadata (mdatagen)
# The builder's components.go is taken as it is; its main is not: ours
# (cmd/otelcol-agent/main.go) runs the embedded default config when no
# --config is given, which the builder's template cannot.
generate: $(BUILDER) $(MDATAGEN)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUILDER) --config builder-config.yaml --skip-get-modules --skip-compilation --output-path "$$tmp/dist" && \
	cp "$$tmp/dist/components.go" $(GEN_DIR)/components.go
	@for d in $(METADATA_DIRS); do echo "mdatagen $$d"; (cd $$d && $(MDATAGEN) metadata.yaml); done

## prices: regenerate the built-in price database from the pinned npm package
# tools/prices/package-lock.json pins @pydantic/genai-prices by version and
# integrity; gen.mjs writes internal/pricing/genai_prices.json (embedded)
# and the reference prices the Go tests check it against. Commit both.
prices:
	cd tools/prices && npm ci --no-audit --no-fund && node gen.mjs
	$(GO) -C internal test -count=1 ./pricing/

## check-generated: fail when the committed generated code differs from a fresh generation
# The builder writes into a temporary directory; mdatagen must run inside the
# module, so it regenerates in place and git reports any difference.
check-generated: $(BUILDER) $(MDATAGEN)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUILDER) --config builder-config.yaml --skip-get-modules --skip-compilation --output-path "$$tmp/dist" >"$$tmp/log" 2>&1 || { cat "$$tmp/log" >&2; exit 1; }; \
	if ! diff "$$tmp/dist/components.go" $(GEN_DIR)/components.go; then \
	  echo "cmd/otelcol-agent/components.go differs from what builder-config.yaml generates: run 'make generate' and commit" >&2; exit 1; fi; \
	extra=$$(ls $(GEN_DIR) | grep -vx -e components.go -e main.go -e embedded.go -e main_test.go || true); \
	if [ -n "$$extra" ]; then echo "cmd/otelcol-agent: unexpected files $$extra (only components.go is generated)" >&2; exit 1; fi
	@for d in $(METADATA_DIRS); do \
	  (cd $$d && $(MDATAGEN) metadata.yaml) || exit 1; \
	  gen="$$d/internal/metadata $$d/internal/metadatatest $$d/documentation.md $$(ls $$d/generated_*.go)"; \
	  if [ -n "$$(git status --porcelain -- $$gen)" ]; then \
	    git status --porcelain -- $$gen >&2; \
	    echo "$$d: generated code differs from metadata.yaml: run 'make generate' and commit" >&2; exit 1; fi; \
	done; echo "generated code is up to date"

## build: build the collector binary into ./bin
build:
	$(GO) build $(GO_BUILD_FLAGS) -o $(COLLECTOR) ./$(GEN_DIR)

## run: build what is missing, then run the collector on $(CONFIG)
run: build
	$(COLLECTOR) --config $(CONFIG)

## check-run: 'make run' as a new user runs it (on free ports): it serves /metrics, health and OTLP
check-run: build
	@scripts/check-make-run.sh

## lint: gofmt, go vet, and 'otelcol-agent validate' on every collector config
lint: build
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go' | grep -v '^$(GEN_DIR)/components.go' | grep -v '^internal/tools/')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:" >&2; echo "$$out" >&2; exit 1; fi
	@for m in $(MODULES); do echo "go vet $$m"; $(GO) -C $$m vet ./... || exit 1; done
	@for c in config/*.yaml; do echo "validate $$c"; $(COLLECTOR) validate --config $$c; done
	@for c in config/overlays/*.yaml; do echo "validate config/default.yaml + $$c"; $(COLLECTOR) validate --config config/default.yaml --config $$c; done

## unit-test: go test on every package except the end-to-end suite
unit-test:
	@for m in $(MODULES); do echo "go test $$m"; \
	  $(GO) -C $$m test $(GO_TEST_FLAGS) $$($(GO) -C $$m list ./... | grep -v /test/e2e) || exit 1; done

## e2e-test: end-to-end tests against the built binary
e2e-test: build deps $(BUILDER)
	OTELCOL_AGENT_BIN=$(COLLECTOR) OTELCOL_AGENT_BUILDER=$(BUILDER) $(GO) test $(GO_TEST_FLAGS) -v ./test/e2e/...

## fuzz: short fuzz runs of every Fuzz target (found by grep, not by compiling every package)
fuzz:
	@{ grep -rl --include='*_test.go' '^func Fuzz' . || true; } | xargs -r -n1 dirname | sort -u | while read -r dir; do \
	  for f in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/'); do \
	    mod=$$dir; while [ ! -f $$mod/go.mod ]; do mod=$$(dirname $$mod); done; \
	    echo "fuzz $$dir $$f"; $(GO) -C $$mod test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_TIME) ./$$(realpath --relative-to=$$mod $$dir) || exit 1; done; done

## deps: install the real backends the tests use (Debian prometheus, prometheus-alertmanager)
deps:
	@scripts/install-test-deps.sh

## check-alerting: promtool and amtool on the rules, their unit tests and the routing
check-alerting:
	@scripts/check-alerting.sh 2>&1 | grep -v '^Warning: --config.file flag overrides'

## test: everything CI runs
test: deps check-generated lint unit-test fuzz e2e-test check-run check-alerting

## bench: every benchmark and the load harness, written to docs/benchmarks.md
bench: build
	@scripts/bench.sh

clean:
	rm -rf bin
