# The two commands of the README, and the steps they are made of. Each is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PAGES ?= 100000

.PHONY: demo test setup bench docs clean db-down

demo: setup  ## run the whole pipeline on the embedded default and print a summary
	$(BIN)/chrono-analytics demo --pages $(PAGES)

test: setup  ## every test: ruff, mypy, sqlfluff, pytest (which also runs the dbt build + tests)
	sh tools/ensure_chromium.sh
	sh tools/ensure_jvm.sh
	$(BIN)/ruff check loaders bench
	$(BIN)/ruff format --check loaders bench
	$(BIN)/mypy
	$(BIN)/sqlfluff lint models macros tests packages
	$(BIN)/pytest -n 2 --dist loadfile

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(BIN)/chrono-analytics setup
	touch $(STAMP)

bench: setup  ## long benchmarks at 1,000,000 (and 3,000,000) pages / events (not part of make test)
	$(BIN)/python bench/bench_marts.py --pages 1000000,3000000
	$(BIN)/python bench/bench_readers.py --pages 1000000
	$(BIN)/python bench/bench_events.py --events 1000000

docs: setup
	$(BIN)/dbt docs generate

db-down:
	$(BIN)/chrono-analytics db down

clean:
	-$(BIN)/chrono-analytics db down
	rm -rf .chrono lake target dbt_packages logs chrono_analytics.duckdb
