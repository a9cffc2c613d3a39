# imzagate: the two commands a newcomer needs are `make run` and `make test`.
# Every target installs what it needs first, so a fresh Debian/Ubuntu machine
# with Go 1.26 needs nothing by hand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
FUZZTIME ?= 2s
LONGFUZZTIME ?= 2m
TESTFLAGS ?= -race -count=1 -timeout 9m
BIN := bin

.PHONY: all run build test test-go fuzz-short fuzz bench bench-compare lint vet staticcheck deps deps-redis deps-chromium deps-promtool deps-kannel deps-tools fmt clean
.PHONY: image image-ref release deps-image warm-static api-docs

# Version stamping for `make image` and `make release`. VERSION is what
# `git describe --tags --dirty` says (v1.2.0, v1.2.0-3-gabc1234 after it,
# -dirty with uncommitted changes); before the first tag it is
# 0.0.0-dev.<commit>. It is also the image tag, so it keeps to the
# characters a tag allows. DATE is the commit's time (SOURCE_DATE_EPOCH if
# set), not the clock's: two builds of one commit are byte-for-byte equal,
# so anyone can rebuild a release and compare it with SHA256SUMS.
ifndef VERSION
VERSION := $(shell git describe --tags --dirty 2>/dev/null || \
  { h=$$(git describe --always --dirty --abbrev=12 2>/dev/null) && echo "0.0.0-dev.$$h"; } || echo 0.0.0-dev)
endif
ifndef COMMIT
COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
endif
ifndef SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
endif
ifndef DATE
DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
endif
# -s -w drop the symbol table and DWARF: stack traces and pprof still work
# (they use the runtime's own tables); a debugger wants `make build`.
STAMP_LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
# -buildvcs=auto also records the commit in the Go build info (go version -m),
# the only stamp of the commands that declare no version variables; it
# overrides a GOFLAGS=-buildvcs=false. BUILDVCS=false builds from a tree git
# refuses to read.
BUILDVCS ?= auto
STATIC_BUILD = CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=$(BUILDVCS) -ldflags '$(STAMP_LDFLAGS)'

all: build

## run: the all-in-one demo (embedded Redis, simulated operator and SIMs).
## RUNARGS are passed to `imzagate demo` (e.g. RUNARGS="--sims 100 -v").
# The first build takes a minute, so it is announced. On a terminal the demo
# runs as a job of its own (set -m): Ctrl-C reaches only the demo, which
# shuts down and exits 0, and make ends with it, with no "Interrupt" line
# and status 0. The extra `exit` keeps bash from exec'ing the binary in
# make's process group. Without a terminal the binary replaces the shell,
# so a SIGTERM that make forwards reaches the demo itself.
RUNARGS ?=
run:
	@echo "building imzagate… ($(BIN)/imzagate)"
	@mkdir -p $(BIN)
	@$(GO) build -o $(BIN)/imzagate ./cmd/imzagate
	@echo "running $(BIN)/imzagate demo $(RUNARGS)"
	@if [ -t 0 ]; then \
	  set -m; $(BIN)/imzagate demo $(RUNARGS); status=$$?; exit $$status; \
	else \
	  exec $(BIN)/imzagate demo $(RUNARGS); \
	fi

## build: every binary into bin/.
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

## image: the container image imzagate:$(VERSION), also tagged $(IMAGE):$(VERSION)
## (the name deploy/kubernetes/deployment.yaml pulls), built from files only:
## a static binary built here, the host's CA bundle, a passwd entry for the
## non-root user. No base image is pulled. See Containerfile.
# IMAGE is the operator's own registry (the manifests name an example one):
#   make image IMAGE=registry.mycorp.az/imzagate
#   buildah push $(make -s image-ref IMAGE=registry.mycorp.az/imzagate)
# BUILDAH takes storage options, e.g. BUILDAH="buildah --storage-driver vfs"
# where overlay mounts are not allowed (inside an unprivileged container).
IMAGE ?= registry.example.az/imzagate
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_CONTEXT ?= $(BIN)/image
BUILDAH ?= buildah
image: deps-image
	@echo "building $(IMAGE_CONTEXT)/imzagate $(VERSION) (linux/$(IMAGE_ARCH), static)"
	@mkdir -p $(IMAGE_CONTEXT)
	@GOOS=linux GOARCH=$(IMAGE_ARCH) $(STATIC_BUILD) -o $(IMAGE_CONTEXT)/imzagate ./cmd/imzagate
	@cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_CONTEXT)/ca-certificates.crt
	@printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >$(IMAGE_CONTEXT)/passwd
	@printf 'root:x:0:\nnonroot:x:65532:\n' >$(IMAGE_CONTEXT)/group
	$(BUILDAH) bud --quiet --arch $(IMAGE_ARCH) --os linux --timestamp $(SOURCE_DATE_EPOCH) \
	  --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg CREATED=$(DATE) \
	  -f Containerfile -t imzagate:$(VERSION) -t $(IMAGE):$(VERSION) $(IMAGE_CONTEXT)
	@echo "built imzagate:$(VERSION) and $(IMAGE):$(VERSION)"

## image-ref: print the registry reference make image tags ($(IMAGE):$(VERSION)).
image-ref:
	@echo "$(IMAGE):$(VERSION)"

## release: static binaries of every command for each of PLATFORMS into
## $(DIST)/ (name-os-arch), stamped with VERSION, COMMIT and DATE, and
## $(DIST)/SHA256SUMS (check with: cd dist && sha256sum -c SHA256SUMS).
PLATFORMS ?= linux/amd64 linux/arm64
RELEASE_CMDS := imzagate smscsim imzabench
DIST ?= dist
release:
	@mkdir -p $(DIST)
	@cd $(DIST) && rm -f SHA256SUMS $(addsuffix -*,$(RELEASE_CMDS))
	@for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; \
	  for c in $(RELEASE_CMDS); do \
	    echo "building $(DIST)/$$c-$$os-$$arch $(VERSION)"; \
	    GOOS=$$os GOARCH=$$arch $(STATIC_BUILD) -o $(DIST)/$$c-$$os-$$arch ./cmd/$$c; \
	  done; \
	done
	@cd $(DIST) && sha256sum -- $(addsuffix -*,$(RELEASE_CMDS)) >SHA256SUMS && cat SHA256SUMS

## test: everything CI runs. Installs missing test dependencies first.
test: deps lint warm-static test-go fuzz-short

# warm-static compiles (without linking) every command with the flags of
# make image and make release, so the packaging tests in deploy/ only link:
# a cold compile there would count against the test binary's -timeout.
warm-static:
	@CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=$(BUILDVCS) ./cmd/...

## lint: formatting, go vet and staticcheck.
## api-docs: render gateway/openapi.yaml into docs/api.md (run after editing the
## document; the test of internal/apidoc fails while the two differ).
api-docs:
	$(GO) generate ./gateway

lint: vet staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

## test-go: the Go tests with the race detector, verbose, then one summary line.
test-go:
	@log=$$(mktemp); status=0; \
	$(GO) test $(TESTFLAGS) -v ./... 2>&1 | tee "$$log" | grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|ok |FAIL|panic:|PASS|\s+\S+_test\.go:[0-9]+:)' || true; \
	grep -qE '^(FAIL|panic:)|^--- FAIL' "$$log" && status=1; \
	if ! grep -q '^ok ' "$$log"; then status=1; fi; \
	passed=$$(grep -cE '^\s*--- PASS' "$$log" || true); failed=$$(grep -cE '^\s*--- FAIL' "$$log" || true); \
	skipped=$$(grep -cE '^\s*--- SKIP' "$$log" || true); \
	if [ "$$status" -ne 0 ]; then grep -E '^(FAIL|panic:)|--- FAIL|build failed|cannot|undefined' "$$log" | head -40; fi; \
	echo "go test: $$passed passed, $$failed failed, $$skipped skipped"; \
	rm -f "$$log"; exit $$status

## fuzz-short: every Fuzz target for $(FUZZTIME) (part of make test).
fuzz-short:
	@$(MAKE) --no-print-directory fuzz LONGFUZZTIME=$(FUZZTIME)

## fuzz: every Fuzz target for $(LONGFUZZTIME).
# A target fails on a finding (a failing input written to testdata/fuzz, a
# panic, a test error). Go 1.26's coordinator can also end a clean run with a
# bare "context deadline exceeded" exactly at the -fuzztime boundary when the
# machine is loaded (golang/go#75804, fixed in Go 1.27): that case, and only
# that case, is reported and not counted as a failure.
fuzz:
	@log=$$(mktemp); clean=0; findings=0; flakes=0; \
	for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target ($(LONGFUZZTIME))"; \
	    if $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(LONGFUZZTIME) "$$pkg" >"$$log" 2>&1; then \
	      clean=$$((clean+1)); tail -1 "$$log"; \
	    elif grep -q 'context deadline exceeded' "$$log" && \
	         ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:|fuzzing process hung|unexpectedly' "$$log"; then \
	      flakes=$$((flakes+1)); echo "  deadline at the -fuzztime boundary with no finding (golang/go#75804): not a failure"; \
	    else \
	      findings=$$((findings+1)); cat "$$log"; \
	    fi; \
	  done; \
	done; \
	rm -f "$$log"; \
	echo "fuzz: $$clean targets clean, $$findings with findings, $$flakes boundary deadlines ignored"; \
	[ "$$findings" -eq 0 ]

## bench: a short pass of the Go micro-benchmarks, then the all-in-one load
## benchmark (real redis-server, gateway, test SMSC, 100,000 simulated SIMs):
## a closed loop for throughput and an open-loop sweep for latency against
## load. Tables on stdout; JSON and SVG plots in $(BENCHOUT)/. Under 3 minutes.
BENCHOUT ?= bench/results
BENCHSIMS ?= 100000
bench: deps
	@status=0; \
	echo "== Go benchmarks (short pass)"; \
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 100ms ./... || status=$$?; \
	mkdir -p $(BIN) $(BENCHOUT); \
	$(GO) build -o $(BIN)/imzabench ./cmd/imzabench; \
	echo "== load benchmark: closed loop, $(BENCHSIMS) SIMs"; \
	$(BIN)/imzabench --sims $(BENCHSIMS) --concurrency 64 --warmup 3s --duration 20s \
	  --json $(BENCHOUT)/closed-loop.json --plots $(BENCHOUT)/closed-loop; \
	echo "== load benchmark: open-loop sweep, $(BENCHSIMS) SIMs"; \
	$(BIN)/imzabench --sims $(BENCHSIMS) --sweep 150,300,450,600 --warmup 1s --duration 5s \
	  --json $(BENCHOUT)/sweep.json --plots $(BENCHOUT); \
	if [ "$$status" -ne 0 ]; then echo "make bench: a Go benchmark failed (see above)"; fi; \
	exit $$status

## bench-compare: imzagate beside Kannel (Debian's kannel) on the send path:
## one test SMSC, the same HTTP load in alternating runs, per pair and as
## medians the ratios imzagate/Kannel of submit_sm/s at the SMSC, HTTP
## p50/p99 and CPU per message, then a full session in ECDSA P-256
## verifications. Under 5 minutes on 2 cores, builds included.
bench-compare: deps-redis deps-kannel
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/imzabench ./cmd/imzagate
	$(BIN)/imzabench compare --imzagate $(BIN)/imzagate

## deps: install what the tests need when it is missing (Debian/Ubuntu).
deps: deps-redis deps-chromium deps-promtool deps-image deps-tools

deps-redis:
	@if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null || ! command -v redis-sentinel >/dev/null; then \
	  $(call apt_install,redis-server redis-tools redis-sentinel,Redis 7 (redis-server\, redis-cli\, redis-sentinel)); \
	fi

# deps-promtool: promtool checks and unit-tests the Prometheus rules in deploy/.
deps-promtool:
	@if ! command -v promtool >/dev/null; then \
	  $(call apt_install,prometheus,promtool (Debian package prometheus)); \
	fi

# deps-chromium: headless Chromium for the demo page's browser test.
deps-chromium:
	@if ! command -v chromium >/dev/null; then \
	  $(call apt_install,chromium,Chromium (headless browser for the demo page test)); \
	fi

# deps-tools: the standard tools the tests run as peers: openssl (ocsp, cms,
# verify, pkeyutl) and Info-ZIP's zip for the documented ASiC-E recipe.
deps-tools:
	@if ! command -v openssl >/dev/null || ! command -v zip >/dev/null; then \
	  $(call apt_install,openssl zip,openssl and zip (Debian packages openssl\, zip)); \
	fi

# deps-kannel: Kannel's bearerbox and smsbox (in /usr/sbin) for bench-compare.
deps-kannel:
	@if ! command -v bearerbox >/dev/null && ! [ -x /usr/sbin/bearerbox ]; then \
	  $(call apt_install,kannel,Kannel (Debian package kannel: bearerbox and smsbox)); \
	fi

# deps-image: buildah builds the container image (make image and its test).
# A Containerfile with no RUN step needs no container runtime, so podman,
# crun and conmon are left out; the CA bundle comes from ca-certificates.
deps-image:
	@if ! command -v buildah >/dev/null || [ ! -f /etc/ssl/certs/ca-certificates.crt ]; then \
	  $(call apt_install,buildah ca-certificates,buildah and the CA bundle (Debian packages buildah\, ca-certificates)); \
	fi

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) dist

# apt_install installs Debian packages $(1) as root or through sudo, or stops
# with a message naming what to install ($(2)) by other means.
define apt_install
if ! command -v apt-get >/dev/null; then \
  echo "missing $(2): install it with your package manager and re-run"; exit 1; \
fi; \
if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
else echo "missing $(2): run 'sudo apt-get install $(1)' (needs root) and re-run"; exit 1; fi; \
echo "installing $(1) from Debian packages"; \
$$sudo apt-get update -qq >/dev/null; \
DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $(1) >/dev/null
endef
