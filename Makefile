# One command per job. Every target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps in one .venv: the demo needs only the CLI extra (click, rich, Alembic), the
# rest of the loop needs the dev stack, which includes the CLI extra and so stamps both.
STAMP     := $(VENV)/.installed-dev
CLI_STAMP := $(VENV)/.installed-cli

.PHONY: install demo test test-drivers test-bare test-fast test-compat lint typecheck check bench clean

$(CLI_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[cli]'
	touch $(CLI_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP) $(CLI_STAMP)

install: $(STAMP)

demo: $(CLI_STAMP)
	$(BIN)/sqlops demo

# Two workers, whole modules to each (module fixtures stay together); every test module
# gets its own throwaway databases (conftest.py), so any order works. PYTEST_JOBS= runs serially.
PYTEST_JOBS ?= -n 2 --dist loadfile
# PYTEST_ARGS picks tests (and then the driver pass is left out); PYTEST_OPTS only adds
# options (.ci/run: --durations) and keeps every pass
PYTEST_OPTS ?=

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_JOBS) $(PYTEST_OPTS) $(PYTEST_ARGS)
	$(if $(PYTEST_ARGS),,$(MAKE) --no-print-directory test-drivers)

# The other async drivers users choose (make test runs this after the main pass): psycopg 3
# over the integration and model-style suites (its adaptation differs most from asyncpg's),
# aiomysql over the integration suite (the same dialect and SQL as asyncmy); both over the
# Hypothesis hostile-value suites, which found what each driver stored differently.
PSYCOPG_URL  ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
AIOMYSQL_URL ?= mysql+aiomysql://root@127.0.0.1:3306/test
HOSTILE      := tests/reliability/test_hostile_input.py tests/reliability/test_hostile_numbers.py

test-drivers: $(STAMP)
	SQLOPS_TEST_POSTGRESQL_URL='$(PSYCOPG_URL)' $(BIN)/python -m pytest $(PYTEST_JOBS) $(PYTEST_OPTS) -q -m postgresql tests/integration tests/styles $(HOSTILE)
	SQLOPS_TEST_MYSQL_URL='$(AIOMYSQL_URL)' $(BIN)/python -m pytest $(PYTEST_JOBS) $(PYTEST_OPTS) -q -m mysql tests/integration $(HOSTILE)

# The oldest supported pair: Python 3.10 and SQLAlchemy 2.0 (make test covers the newest).
# python3.10 on PATH; with pyenv, its newest 3.10 even when it is not the selected version
COMPAT_PYTHON ?= $(shell PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep '^3\.10' | tail -1) \
	python3.10 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3.10)
COMPAT_VENV   := .venv-compat

# A fresh venv with a plain `pip install .` (no extras): what a bare install prints.
test-bare:
	.ci/bare-install

test-compat:
	test -x $(COMPAT_VENV)/bin/python || $(COMPAT_PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q -e '.[dev]' 'sqlalchemy>=2.0,<2.1'
	$(COMPAT_VENV)/bin/python -m pytest $(PYTEST_JOBS) $(PYTEST_OPTS) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -x -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/sqlops bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(COMPAT_VENV) build dist .mypy_cache .ruff_cache
