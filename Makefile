# imzagate: the two commands a newcomer needs are `make run` and `make test`.
# Every target installs what it needs first, so a fresh Debian/Ubuntu machine
# with Go 1.26 needs nothing by hand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
FUZZTIME ?= 5s
LONGFUZZTIME ?= 2m
TESTFLAGS ?= -race -count=1 -timeout 9m
BIN := bin

.PHONY: all run build test test-go fuzz-short fuzz bench bench-compare lint vet staticcheck deps deps-redis deps-chromium deps-promtool deps-kannel fmt clean

all: build

## run: the all-in-one demo (embedded Redis, simulated operator and SIMs).
run:
	$(GO) run ./cmd/imzagate demo

## build: every binary into bin/.
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

## test: everything CI runs. Installs missing test dependencies first.
test: deps lint test-go fuzz-short

## lint: formatting, go vet and staticcheck.
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
deps: deps-redis deps-chromium deps-promtool

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

# deps-kannel: Kannel's bearerbox and smsbox (in /usr/sbin) for bench-compare.
deps-kannel:
	@if ! command -v bearerbox >/dev/null && ! [ -x /usr/sbin/bearerbox ]; then \
	  $(call apt_install,kannel,Kannel (Debian package kannel: bearerbox and smsbox)); \
	fi

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)

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
