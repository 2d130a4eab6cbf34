# Gatehouse — developer and CI entry points.
#
#   make test      install missing packages, start PostgreSQL + a Samba AD DC
#                  (scripts/testenv), run the tests against them, stop them;
#                  then the failover tests against two replicating DCs
#   make lint      go vet, gofmt, golangci-lint
#   make build     go build ./...
#   make demo      run `gatehouse demo`
#   make bench     the load generator end to end (bench/run.sh): Markdown
#                  report in bench/results/<date>.md; flags in BENCH_ARGS,
#                  e.g. make bench BENCH_ARGS='-journeys 100 -hold 0';
#                  BENCH_REV=<commit> benchmarks that commit's gatehouse
#   make testenv-start / testenv-stop   keep the services up for manual runs:
#                  eval "$$(scripts/testenv/env.sh)" then go test ./...

SHELL := /bin/bash

# Arguments for go test; e.g. make test TEST_ARGS='-race -count=1 -run Smoke ./test/...'
# Empty: the whole suite (-race -count=1 ./...) and then the failover tests
# against two DCs; with arguments, only those (GATEHOUSE_TESTENV_FAILOVER=1
# adds the failover tests, =0 leaves them out of the whole suite).
TEST_ARGS ?=

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: all build test lint vet fmt-check golangci-lint demo bench testenv-install testenv-start testenv-stop

all: build

build:
	go build ./...

# One recipe: run-tests.sh traps EXIT, so the services are stopped even when
# the tests fail or are interrupted; the exit status is go test's.
test:
	scripts/testenv/run-tests.sh $(TEST_ARGS)

lint: vet fmt-check golangci-lint

vet:
	go vet ./...

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.testenv/*' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi

golangci-lint:
	$(GOLANGCI_LINT) run ./...

demo:
	go run ./cmd/gatehouse demo

bench:
	bench/run.sh $(BENCH_ARGS)

testenv-install:
	scripts/testenv/install.sh

testenv-start:
	scripts/testenv/start.sh >/dev/null

testenv-stop:
	scripts/testenv/stop.sh
