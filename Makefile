GO      ?= go
FUZZTIME ?= 20s

.PHONY: all build setup test fuzz lab bench-targets bench-worker e2e-compose e2e-hosts clean

all: build

# Every binary lands in bin/.
build:
	$(GO) build -o bin/ ./targets/cmd/target ./boomer/cmd/boomer ./cmd/lab

setup:
	scripts/setup.sh

# The whole suite, race detector on, then a short fuzz of the HTTP parser.
test: setup build
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) fuzz

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSession$$' -fuzztime $(FUZZTIME) ./targets/httpcore

# The main job: every model under the seed reports' load, and the report,
# with the Locust pinned in requirements.txt (the venv first on PATH).
lab: setup build
	PATH="$(CURDIR)/.venv/bin:$$PATH" bin/lab run --preset lab

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
