# The commands people, hooks and CI share. Every process runs in UTC (Feast's SQLite store
# writes local time).
export TZ := UTC
export PYTHONWARNINGS := ignore::DeprecationWarning
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WORKERS ?= 2

.PHONY: install run pipeline train serve replay test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: install pipeline train serve

pipeline: install
	$(PY) -m pipelines run

train: install
	$(PY) -m training train

serve: install
	@echo "Serving on http://localhost:$(PORT) (Ctrl-C stops). Try:"
	@echo "  curl -s localhost:$(PORT)/predict -H 'content-type: application/json' -d '{\"tailnum\": \"N14228\", \"carrier\": \"UA\", \"origin\": \"EWR\", \"dest\": \"IAH\", \"scheduled_departure\": \"2013-12-31T01:00:00Z\", \"distance\": 1400}'"
	FLIGHTS_AS_OF=$$($(PY) -c 'import json; print(json.load(open("data/offline/_watermark.json"))["as_of"])') \
	  $(PY) -m serving --port $(PORT) --workers $(WORKERS) --no-access-log

replay: install
	$(PY) -m monitoring replay

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench.stores_materialize && $(PY) -m bench.stores_pit_join
	$(PY) bench/validate_bench.py && $(PY) bench/features_bench.py && $(PY) bench/serve_bench.py

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf data
