# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck pytest bench bench-quick clean

# `pip -q -q` prints errors only: the build backend's warnings about editable installs (and
# pip's own warnings) would bury the demo's first lines. A failed install still prints its
# error and fails the target.
PIP := $(BIN)/pip install -q -q

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.installed-cli: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[cli]' --config-settings editable_mode=strict
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]' --config-settings editable_mode=strict
	touch $@ $(VENV)/.installed-cli

demo: $(VENV)/.installed-cli
	$(BIN)/profilestore demo

test: $(VENV)/.installed-dev lint typecheck pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

# mypy checks the installed package from outside the checkout: the checkout's root holds the
# facade __init__.py, and its folder name need not be a valid package name.
typecheck: $(VENV)/.installed-dev
	cd $(VENV) && bin/mypy --config-file ../pyproject.toml -p profilestore

pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Ratios against baselines measured in the same run; results in bench/results.json (not committed).
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

bench-quick: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
