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

.PHONY: install run sync simulate test lint layers bench clean

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
	mkdir -p $(OUT)/scenarios
	$(BIN)/twin calibrate --lake $(LAKE) --city seattle --out $(OUT)/scenarios/seattle_baseline.yaml --report $(OUT)/scenarios/seattle_baseline.fit.json
	$(BIN)/twin calibrate --lake $(LAKE) --city sanfrancisco --out $(OUT)/scenarios/sanfrancisco_baseline.yaml --report $(OUT)/scenarios/sanfrancisco_baseline.fit.json
	$(BIN)/twin calibrate --lake $(LAKE) --city jiaxing --out $(OUT)/scenarios/jiaxing_baseline.yaml --report $(OUT)/scenarios/jiaxing_baseline.fit.json
	$(BIN)/twin variant $(OUT)/scenarios/seattle_baseline.yaml --add-units 2 --name seattle_variant --out $(OUT)/scenarios/seattle_variant.yaml
	$(BIN)/twin simulate $(OUT)/scenarios/seattle_baseline.yaml --seed 1 --replications 3 --out $(OUT)/seattle_baseline
	$(BIN)/twin simulate $(OUT)/scenarios/seattle_variant.yaml --seed 1 --replications 3 --out $(OUT)/seattle_variant
	$(BIN)/twin simulate $(OUT)/scenarios/sanfrancisco_baseline.yaml --seed 1 --replications 3 --out $(OUT)/sanfrancisco_baseline
	$(BIN)/twin simulate $(OUT)/scenarios/jiaxing_baseline.yaml --seed 1 --replications 3 --out $(OUT)/jiaxing_baseline
	$(BIN)/twin simulate scenarios/example.yaml --seed 1 --replications 5 --out $(OUT)/example
	$(BIN)/twin replay $(OUT)/scenarios/sanfrancisco_baseline.yaml --lake $(LAKE) --start 2020-04-18 --end 2020-04-18 --out $(OUT)/replay_sanfrancisco
	@# a re-sync moves the lake version the calibrated scenarios record, so last run's sweep is
	@# another sweep (twin sweep refuses to mix them): start it afresh
	rm -rf $(OUT)/sweep_seattle
	$(BIN)/twin sweep $(OUT)/scenarios/seattle_baseline.yaml $(OUT)/scenarios/seattle_variant.yaml --replications 3 --out $(OUT)/sweep_seattle
	$(BIN)/twin optimize $(OUT)/scenarios/seattle_baseline.yaml --target 'response_mean_min[agency=police,priority=2] <= 17' --replications 2 --out $(OUT)/optimize_seattle/seattle_police_p2.yaml
	$(BIN)/twin dashboard --lake $(LAKE) --results $(OUT) --host $(HOST) --port $(PORT)

# LAYERS=0 skips the import-linter contracts (they name the target layout of issue 7)
LAYERS ?= 1

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check twin flows dashboards
	$(BIN)/mypy twin flows dashboards
	@if [ "$(LAYERS)" = "1" ]; then $(MAKE) --no-print-directory layers; fi

# the import rules of LAYOUT.md as import-linter contracts ([tool.importlinter] in pyproject.toml)
layers: install
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q -n 2 --dist loadgroup

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(LAKE) $(OUT) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
