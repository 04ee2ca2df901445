#!/usr/bin/env bash
# The server tier's services on localhost, their data in a temporary folder:
#   deploy/services.sh install         Debian's redis-server and postgresql (as root), if missing
#   deploy/services.sh up|down         start all three / stop them and delete their data
#   deploy/services.sh start|stop NAME start or stop one (redis, postgres, mlflow), keeping its data
# Redis; PostgreSQL (database `larder` for Feast, `mlflow` for tracking); and an MLflow tracking
# server over PostgreSQL, serving its artifacts from a folder (MLFLOW_TRACKING_URI=
# http://localhost:5000). LARDER_SERVICES_DIR (default ${TMPDIR:-/tmp}/larder-services),
# LARDER_REDIS_PORT (6379), LARDER_PG_PORT (5432) and LARDER_MLFLOW_PORT (5000) move them; the
# tiers' defaults (deploy/tiers/*) are these. LARDER_MLFLOW is the `mlflow` program to run.
set -euo pipefail
DIR=${LARDER_SERVICES_DIR:-${TMPDIR:-/tmp}/larder-services}
REDIS_PORT=${LARDER_REDIS_PORT:-6379}
PG_PORT=${LARDER_PG_PORT:-5432}
MLFLOW_PORT=${LARDER_MLFLOW_PORT:-5000}
MLFLOW=${LARDER_MLFLOW:-mlflow}
PG_USER=larder

pg_bin() {  # Debian keeps the server's programs out of PATH
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$found" ] || { echo "services: no PostgreSQL server (run: $0 install)" >&2; exit 1; }
  echo "$found"
}

as_owner() {  # PostgreSQL refuses to run as root: run it as the `postgres` account then
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  [ ${#missing[@]} = 0 ] && return
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

start_redis() {
  mkdir -p "$DIR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" --daemonize yes \
    --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log" \
    --save "" --appendonly yes
  for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "services: redis did not start, see $DIR/redis/redis.log" >&2; exit 1
}

stop_redis() {
  redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  for _ in $(seq 100); do [ -f "$DIR/redis/redis.pid" ] || return 0; sleep 0.1; done
}

start_postgres() {
  local bin; bin=$(pg_bin)
  mkdir -p "$DIR/postgres"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR/postgres"
  if [ ! -f "$DIR/postgres/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$DIR/postgres/data" -U "$PG_USER" --auth=trust -E UTF8 >/dev/null
    fresh=1
  fi
  as_owner "$bin/pg_ctl" -D "$DIR/postgres/data" -l "$DIR/postgres/postgres.log" -w -s \
    -o "-p $PG_PORT -k $DIR/postgres -c listen_addresses=127.0.0.1 -c fsync=off" start
  if [ "${fresh:-}" = 1 ]; then
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_USER"
  fi
}

stop_postgres() {
  [ -f "$DIR/postgres/data/postmaster.pid" ] || return 0
  as_owner "$(pg_bin)/pg_ctl" -D "$DIR/postgres/data" -w -s -m fast stop
}

start_mlflow() {
  mkdir -p "$DIR/mlflow/artifacts"
  if ! as_owner "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_USER" -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'mlflow'" | grep -q 1; then
    as_owner "$(pg_bin)/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" mlflow
  fi
  # Its own session, so that `stop` ends the server and every worker it started.
  setsid "$MLFLOW" server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 2 \
    --backend-store-uri "postgresql+psycopg://$PG_USER@127.0.0.1:$PG_PORT/mlflow" \
    --artifacts-destination "$DIR/mlflow/artifacts" \
    >"$DIR/mlflow/mlflow.log" 2>&1 </dev/null &
  echo $! >"$DIR/mlflow/mlflow.pid"
  for _ in $(seq 600); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$MLFLOW_PORT/health', timeout=1)" \
      >/dev/null 2>&1 && return
    kill -0 "$(cat "$DIR/mlflow/mlflow.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "services: mlflow did not start, see $DIR/mlflow/mlflow.log" >&2; exit 1
}

stop_mlflow() {
  [ -f "$DIR/mlflow/mlflow.pid" ] || return 0
  local pid; pid=$(cat "$DIR/mlflow/mlflow.pid")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$DIR/mlflow/mlflow.pid"
}

case "${1:-}" in
  install) install ;;
  up) start_redis; start_postgres; start_mlflow
      echo "services: redis on localhost:$REDIS_PORT, postgres on localhost:$PG_PORT," \
        "mlflow on http://localhost:$MLFLOW_PORT ($DIR)" ;;
  down) stop_mlflow; stop_redis; stop_postgres; rm -rf "$DIR" ;;
  start|stop) [[ "${2:-}" =~ ^(redis|postgres|mlflow)$ ]] ||
                { echo "usage: $0 $1 redis|postgres|mlflow" >&2; exit 2; }
              "$1_$2" ;;
  *) echo "usage: $0 install|up|down|start NAME|stop NAME" >&2; exit 2 ;;
esac
