# fieldsync: `make run` starts the product on the embedded default;
# `make test` runs every test against real PostgreSQL, Redis and MinIO,
# installing or starting them first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO       ?= go
BIN      := bin/fieldsync
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...
# Packages with concurrency run under the race detector; that is all of them
# that have tests, so test everything with -race.
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: build ## start API + worker on the embedded default (SQLite, photo dir, in-process Redis) with demo data
	./$(BIN) dev

.PHONY: build
build: ## build bin/fieldsync
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/fieldsync

.PHONY: services
services: ## install or start PostgreSQL, Redis and the MinIO server binary the tests use
	@./scripts/services.sh

# Fuzz budgets are execution counts, about 10 s of each fuzzer on this
# machine: a wall-clock -fuzztime can fail a run with a bare "context deadline
# exceeded" when the deadline races a worker (golang/go#75804, fixed in Go
# 1.27; we build with 1.26). FUZZSCALE multiplies them for a longer hunt.
FUZZSCALE ?= 1
fuzzx = $(shell echo $$(( $(1) * $(FUZZSCALE) )))x


.PHONY: test
test: services ## run every test (race detector on) against real PostgreSQL, Redis and MinIO, then the fuzzers briefly
	$(GO) test $(TESTFLAGS) $(PKGS)
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory gobind

.PHONY: gobind
gobind: ## generate the Java and Objective-C bindings of the mobile client facade (fails if gobind skips anything)
	GO=$(GO) ./scripts/gobind.sh

SOAK ?= 10m

.PHONY: soak
soak: build ## run simulated-phone campaigns with faults for SOAK (default 10m) on a private PostgreSQL; exits non-zero on divergence
	./$(BIN) sim --duration $(SOAK) --devices 20 --ops 400 --token-ttl 4s

.PHONY: fuzz
fuzz: ## run each fuzzer of untrusted input for about 10 s (FUZZSCALE=N for N times longer)
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePush$$' -fuzztime $(call fuzzx,20000) ./sync/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCursor$$' -fuzztime $(call fuzzx,20000) ./sync/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(call fuzzx,100000) ./mobile/auth/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckKey$$' -fuzztime $(call fuzzx,20000) ./storage/blob/
	$(GO) test -run '^$$' -fuzz '^FuzzSniffImage$$' -fuzztime $(call fuzzx,250000) ./domain/
	$(GO) test -run '^$$' -fuzz '^FuzzIntake$$' -fuzztime $(call fuzzx,250000) ./domain/
	$(GO) test -run '^$$' -fuzz '^FuzzImageScan$$' -fuzztime $(call fuzzx,250000) ./domain/
	$(GO) test -run '^$$' -fuzz '^FuzzProcess$$' -fuzztime $(call fuzzx,12000) ./jobs/photoproc/

.PHONY: lint
lint: ## gofmt, go vet and the import rules of docs/architecture.md
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@./scripts/check-imports.sh

.PHONY: verify
verify: lint test ## lint and test, as CI does

.PHONY: bench
bench: services ## run the benchmarks and rewrite the figures in docs/benchmarks.md (5 to 7 minutes)
	GO=$(GO) ./scripts/bench.sh

.PHONY: clean
clean: ## remove build output and the embedded default's data
	rm -rf bin data
