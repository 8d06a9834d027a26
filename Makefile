# zhian-twin: `make run` does everything on a fresh machine; `make test` checks it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAKE ?= lake
OUT ?= out
HOST ?= 127.0.0.1
PORT ?= 8050

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export PREFECT_LOGGING_LEVEL ?= WARNING

.PHONY: install run sync simulate test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

sync: install
	$(BIN)/twin sync --lake $(LAKE)

run: install
	$(BIN)/twin sync --lake $(LAKE)
	$(BIN)/twin simulate scenarios/example.yaml --replications 5 --out $(OUT)/example

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check twin flows dashboards
	$(BIN)/mypy twin flows dashboards

test: lint
	$(BIN)/pytest -q -n 2 --dist loadgroup

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(LAKE) $(OUT) .pytest_cache .mypy_cache .ruff_cache
