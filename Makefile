# The commands people, hooks and CI share. Every process runs in UTC (Feast's SQLite store
# writes local time). REPO is the domain folder (default: the flights in feature_repo/):
#   make run REPO=examples/storms PORT=8001
export TZ := UTC
export PYTHONWARNINGS := ignore::DeprecationWarning
VENV ?= .venv
PY := $(VENV)/bin/python
REPO ?= feature_repo
PORT ?= 8000
WORKERS ?= 2
run pipeline train serve replay clean: export LARDER_FEATURE_REPO := $(abspath $(REPO))

.PHONY: install run pipeline train serve replay test lint bench bench-install bench-tiers clean \
	services-install services-up \
	services-down test-tiers engines-install test-engines bench-engines container-install \
	container-build test-container

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,servers]'
	touch $@

run: install pipeline train serve

pipeline: install
	$(PY) -m pipelines run

train: install
	$(PY) -m training train

serve: install
	@echo "Serving $(REPO) on http://localhost:$(PORT) (Ctrl-C stops; the API is at /docs). Try:"
	@echo "  curl -s localhost:$(PORT)/predict -H 'content-type: application/json' -d '$$($(PY) -m serving --example)'"
	LARDER_AS_OF=$$($(PY) -c 'import json, sys; print(json.load(open(sys.argv[1]))["as_of"])' $(LARDER_FEATURE_REPO)/data/offline/_watermark.json) \
	  $(PY) -m serving --port $(PORT) --workers $(WORKERS) --no-access-log

replay: install
	$(PY) -m monitoring replay

# Test files are spread over TEST_WORKERS processes (pytest-xdist), each file's tests in one
# of them, so a file's fixtures are built once.
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: install bench-install
	$(PY) -m bench.stores_materialize && $(PY) -m bench.stores_pit_join
	$(PY) bench/validate_bench.py && $(PY) bench/features_bench.py && $(PY) bench/serve_bench.py

# The serving benchmarks' load generator: Debian's wrk (as root), if missing. The tiers'
# benchmark also needs `make services-up`.
bench-install:
	command -v wrk >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

bench-tiers: install bench-install
	TZ=UTC $(PY) bench/tiers_bench.py

# The server tier (deploy/README.md): Redis, PostgreSQL and an MLflow tracking server on
# localhost, data in a temporary folder; `make test-tiers` runs the tests that need them (plain
# `make test` leaves them out).
services-install:
	deploy/services.sh install

services-up: install
	LARDER_MLFLOW=$(abspath $(VENV))/bin/mlflow deploy/services.sh up

services-down:
	deploy/services.sh down

test-tiers: install
	$(PY) -m pytest -q -m tiers tests/tiers

# The cluster engines' tiers (deploy/tiers/spark, deploy/tiers/ray): pyspark and Ray (the
# `engines` extra) and, if missing, Debian's Java 17 for Spark (as root); `make test-engines`
# runs the tests marked `engines` on a local Spark session and local Ray.
engines-install: install
	command -v java >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless)
	$(PY) -m pip install --quiet -e '.[engines]'

test-engines: engines-install
	$(PY) -m pytest -q -m engines tests/tiers/test_engines.py tests/stores/test_feast_private.py

bench-engines: engines-install
	$(PY) bench/engines_bench.py

# The platform's images and the server tier in containers (deploy/container/README.md): the
# tools (Debian's podman, podman-compose, runc and debootstrap, as root), the images, and the
# test that brings the compose stack up and predicts through both replicas (plain `make test`
# leaves it out). podman here needs deploy/container/containers.conf (CONTAINERS_CONF).
container-install:
	deploy/container/build.sh install

container-build: install
	deploy/container/build.sh

test-container: install
	$(PY) -m pytest -q -m container tests/container

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

clean:
	rm -rf $(LARDER_FEATURE_REPO)/data
