# rbee fleet. `make help` lists the targets.
GO      ?= go
GOFMT   ?= $(shell $(GO) env GOROOT 2>/dev/null)/bin/gofmt
VERSION ?= $(shell git rev-parse HEAD 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rbee-fleet/rbee/shared/version.Version=$(VERSION)

.PHONY: help build test demo bench fmt-check vet deps mutate

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build queen, hive-agent and rbee-worker into bin/
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./queen ./hive-agent ./hive-agent/rbee-worker

test: fmt-check vet ## gofmt check, go vet, and every test with the race detector
	$(GO) test -race -timeout 20m ./...

fmt-check: ## fail when a Go file is not gofmt-clean
	@[ -x "$(GOFMT)" ] || { echo "gofmt not found at '$(GOFMT)': install Go 1.26 (scripts/install-deps.sh says how) or pass GOFMT=/path/to/gofmt"; exit 1; }
	@out=$$($(GOFMT) -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; echo "run: gofmt -w $$out"; exit 1; fi

vet: ## go vet ./...
	$(GO) vet ./...

demo: ## run the local demo fleet (see README)
	@echo "demo: building queen, hive-agent and rbee-worker into bin/ first (about a minute with a cold Go cache)"
	@$(MAKE) --no-print-directory build
	bash scripts/demo.sh

bench: ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

mutate: ## apply each fault of scripts/mutations.txt to a copy of the tree; fail unless the tests catch them all
	GO=$(GO) bash scripts/mutate.sh

deps: ## install what the tests and the demo need (as root), or say what is missing
	bash scripts/install-deps.sh
