# Everything a fresh machine needs: a virtualenv in .venv with the package and its test extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench crds mutation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Compile the bundled example fleet and print the summary table (no cluster needed).
demo: $(STAMP)
	$(BIN)/lattice compile examples/ --summary

## The whole test suite, plus type and lint checks.
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/compile.py

## Mutation testing of the security-critical modules (tests/mutation/__main__.py); JOBS=2 uses both cores.
JOBS ?= 1
mutation: $(STAMP)
	mkdir -p build
	$(BIN)/python -m tests.mutation --jobs $(JOBS) --report build/mutation-report.json

crds: $(STAMP)
	$(BIN)/lattice crds

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
