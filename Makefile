GO      ?= go
FUZZTIME ?= 20s

.PHONY: all build setup test test-extended test-adversarial fuzz lab bench-targets bench-worker e2e-compose e2e-hosts clean

all: build

# Every binary lands in bin/.
build:
	$(GO) build -o bin/ ./targets/cmd/target ./boomer/cmd/boomer ./cmd/lab

setup:
	scripts/setup.sh

# The whole suite: vet and staticcheck (pinned in go.mod's tool block),
# the tests with the race detector on, then a short fuzz of the HTTP parser.
# Three packages at a time, not GOMAXPROCS: the longest ones mostly wait
# on Locust's clocks. The CI lab gate (ci/) runs alone afterwards: it
# judges latencies against a baseline, which a busy machine would fail.
test: setup build
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) test -race -count=1 -p 3 -timeout 15m $$($(GO) list ./... | grep -vx serverlab/ci)
	$(GO) test -race -count=1 -timeout 5m ./ci
	$(MAKE) fuzz

# The repetitions make test keeps short: 20 lost-stats runs in a row on
# each Locust version (make test runs 5).
test-extended: setup build
	LOST_STATS=full $(GO) test -race -count=1 -timeout 30m -run '^TestWorkerOutOfFDsLosesNoStats$$' ./boomer/itest

# The attacks on the targets at the scale they were found with (make test
# runs them small): slow drips, clients that never read, keep-alive hogs,
# blocking delays, past the thread cap; every model.
test-adversarial: setup build
	ADVERSARIAL=full $(GO) test -race -count=1 -timeout 30m -run '^TestAdversarial' ./targets/

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSession$$' -fuzztime $(FUZZTIME) ./targets/httpcore

# The main job: every model under the seed reports' load, and the report.
# bin/lab runs the Locust pinned in requirements.txt (.venv) by itself.
lab: setup build
	bin/lab run --preset lab

# Every target, the web UI and Go workers on this machine until Ctrl-C;
# ARGS go to bin/lab up, e.g. make up ARGS='--workers 4'.
.PHONY: up
up: setup build
	bin/lab up $(ARGS)

bench-targets: setup build
	scripts/bench-targets.sh

bench-worker: setup build
	scripts/bench-worker.sh

# The compose walkthrough against a real Docker engine (not part of test).
e2e-compose:
	scripts/compose-e2e.sh

# Master, two Go workers and a target on four network namespaces (root only;
# not part of test).
e2e-hosts: build
	scripts/hosts-e2e.sh

clean:
	rm -rf bin
