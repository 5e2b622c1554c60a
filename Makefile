# The two commands of the README: `make run` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck unit bench crash clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/syncline serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

bench: install
	$(BIN)/python bench/collect.py
	$(BIN)/python bench/profiles.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/http_client.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/dashboard.py

crash: install
	$(BIN)/python bench/crash.py --backend sqlite
	$(BIN)/python bench/crash.py --backend postgres

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
