# The two commands of the README, and the steps they are made of. Each is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PAGES ?= 100000
# `mf` checks PyPI for a newer release on every call and its dbt debug opens the profile's
# DuckDB file: point the check at a closed local port (refused at once, no network) and the
# profile at an in-memory database, so validating the semantic layer needs no network and no
# warehouse (the source PostgreSQL need not run either: dbt debug's failed connection is only
# reported). --skip-dw: the semantic checks only, no query against a warehouse.
MF_OFFLINE := HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY= CHRONO_DUCKDB_PATH=:memory:

.PHONY: demo test setup bench docs clean db-down

demo: setup  ## run the whole pipeline on the embedded default and print a summary
	$(BIN)/chrono-analytics demo --pages $(PAGES)

test: setup  ## every test: ruff, mypy, sqlfluff, the semantic layer's configs, pytest (which also runs the dbt build + tests)
	sh tools/ensure_chromium.sh
	sh tools/ensure_jvm.sh
	$(BIN)/ruff check loaders bench
	$(BIN)/ruff format --check loaders bench
	$(BIN)/mypy
	$(BIN)/sqlfluff lint --processes 2 models macros tests packages analyses
	$(BIN)/dbt deps --quiet
	$(BIN)/dbt parse --quiet
	$(MF_OFFLINE) $(BIN)/mf validate-configs --skip-dw
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(BIN)/chrono-analytics setup
	touch $(STAMP)

bench: setup  ## long benchmarks at 1,000,000 (and 3,000,000) pages / events (not part of make test)
	$(BIN)/python bench/bench_marts.py --pages 1000000,3000000
	$(BIN)/python bench/bench_cycles.py --pages 1000000
	$(BIN)/python bench/bench_sync.py --pages 1000000
	$(BIN)/python bench/bench_readers.py --pages 1000000
	$(BIN)/python bench/bench_events.py --events 1000000
	$(BIN)/python bench/bench_api.py --pages 1000000

docs: setup
	$(BIN)/dbt docs generate

db-down:
	$(BIN)/chrono-analytics db down

clean:
	-$(BIN)/chrono-analytics db down
	rm -rf .chrono lake target dbt_packages logs chrono_analytics.duckdb
