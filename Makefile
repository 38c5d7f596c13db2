# GramSetu developer tasks.  Needs only a python3 (CPython 3.10-3.13) with the venv module
# (Debian/Ubuntu: apt-get install python3-venv).  The embedded PostgreSQL comes from the
# pgserver wheel on CPython 3.10-3.12; on 3.13 install PostgreSQL (initdb/pg_ctl) or set
# DATABASE_URL.  Override the interpreter with e.g. `make test PYTHON=python3.12`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.gramsetu-installed
PYTEST_WORKERS ?= 2
LINT_PATHS := kernel contracts gramsetu services $(wildcard gateway) bench

.DEFAULT_GOAL := help
.PHONY: help venv install run test test-slow bench lint migrate asyncapi asyncapi-check clean clean-data

help:
	@echo "make run         start the whole stack (embedded PostgreSQL + NATS unless DATABASE_URL/NATS_URL)"
	@echo "make test        fast test suite (pytest -n $(PYTEST_WORKERS), not slow)"
	@echo "make test-slow   soak, failure-injection and benchmark tests"
	@echo "make bench       benchmarks (python -m bench)"
	@echo "make lint        ruff + mypy"
	@echo "make migrate     apply database migrations"
	@echo "make asyncapi    regenerate docs/asyncapi.yaml from the event contracts"
	@echo "make clean       remove the venv and caches (keeps the local stack data in .gramsetu/)"
	@echo "make clean-data  remove the local stack data (.gramsetu/: embedded PostgreSQL and NATS)"

$(BIN)/python:
	$(PYTHON) -c 'import sys; v = sys.version_info[:2]; assert (3, 10) <= v <= (3, 13), f"CPython 3.10-3.13 needed, not {v}"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python

# Re-install only when the dependencies change; the package itself is editable.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

run: install
	$(BIN)/gramsetu up

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not slow"

test-slow: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m slow

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check $(LINT_PATHS) tests
	$(BIN)/mypy $(LINT_PATHS)

migrate: install
	$(BIN)/gramsetu migrate

asyncapi: install
	$(BIN)/gramsetu asyncapi

asyncapi-check: install
	$(BIN)/gramsetu asyncapi --check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .bench build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data:
	rm -rf .gramsetu
