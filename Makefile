# The README's two commands are `make run` and `make test`; both set up what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

## make run: migrate the database (SQLite ./fieldwork.db unless DATABASE_URL), seed the demo when empty, serve
run: $(VENV)/.installed
	$(BIN)/fieldwork db upgrade
	$(BIN)/fieldwork seed --if-empty
	$(BIN)/fieldwork serve

## make test: the suite on SQLite and, when TEST_POSTGRES_URL is set, on PostgreSQL side by side (the PostgreSQL
## run's output follows the SQLite run's; each run has a database of its own)
test: $(VENV)/.dev-installed
	@if [ -z "$$TEST_POSTGRES_URL" ]; then exec $(BIN)/python -m pytest; fi; \
	log=$$(mktemp); \
	FIELDWORK_TEST_DATABASE_URL="$$TEST_POSTGRES_URL" $(BIN)/python -m pytest -p no:cacheprovider >"$$log" 2>&1 & pg=$$!; \
	echo "== SQLite (PostgreSQL runs alongside) =="; \
	$(BIN)/python -m pytest; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo "== PostgreSQL =="; cat "$$log"; rm -f "$$log"; \
	exit $$(( sqlite || postgres ))

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/http_baseline.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/offline_sync.py
	$(BIN)/python bench/kpis.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
