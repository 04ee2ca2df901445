#!/bin/sh
# Redis and PostgreSQL started the way their official images start them (the part the stack
# uses): `redis-server ARGS` and `postgres ARGS` run as their own accounts; a fresh PGDATA is
# made with POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required) and POSTGRES_DB
# (default the user), and the *.sql and *.sh of /docker-entrypoint-initdb.d run once on it.
# Anything else runs as given.
set -eu
as() { account=$1; shift; exec setpriv --reuid="$account" --regid="$account" --init-groups "$@"; }

postgres_fresh() {
  bin=$1 user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  : "${POSTGRES_PASSWORD:?services: set POSTGRES_PASSWORD for a new PostgreSQL}"
  secret=$(mktemp) && printf '%s\n' "$POSTGRES_PASSWORD" >"$secret" && chown postgres "$secret"
  setpriv --reuid=postgres --regid=postgres --init-groups "$bin/initdb" -D "$PGDATA" \
    -U "$user" --pwfile="$secret" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$secret"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
  pg "$bin/pg_ctl" -D "$PGDATA" -w -s -o "-c listen_addresses=''" start
  [ "$db" = postgres ] || pg "$bin/createdb" -U "$user" "$db"
  for script in /docker-entrypoint-initdb.d/*; do
    case "$script" in
      *.sql) pg "$bin/psql" -q -v ON_ERROR_STOP=1 -U "$user" -d "$db" -f "$script" ;;
      *.sh)  # shellcheck source=/dev/null
        . "$script" ;;
    esac
  done
  pg "$bin/pg_ctl" -D "$PGDATA" -w -s -m fast stop
}

case "${1:-}" in
  redis-server)
    chown redis:redis /data
    as redis "$@" ;;
  postgres)
    # shellcheck disable=SC2012  # version-sorted: the newest server
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    PGDATA=${PGDATA:-/var/lib/postgresql/data}
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql && chmod 0700 "$PGDATA"
    [ -s "$PGDATA/PG_VERSION" ] || postgres_fresh "$bin"
    shift
    as postgres "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' "$@" ;;
  *) exec "$@" ;;
esac
