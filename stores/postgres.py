"""Feast's postgres online store, failing fast in an outage.

Feast's own store either keeps one connection for ever (`conn_type: singleton`: never replaced
once an outage breaks it) or takes one from a pool with psycopg_pool's default wait of 30 s
(`conn_type: pool`, not configurable from feature_store.yaml), and never hands a connection back
to the pool when a query fails. A server under a request timeout of a few seconds then answers
nothing useful while PostgreSQL is down, and runs out of connections after it.

This store is Feast's, with one change, to `_get_conn` (private: stores/feast_private.py), the
one method every read, write and update goes through: a pool that checks each connection before
handing it out, waits at most `wait_s` for one (and to open one), and takes each back whatever
the query did. An outage is a `psycopg_pool.PoolTimeout` or a `psycopg.OperationalError` within
`wait_s`, which the server answers as a 503 naming PostgreSQL; the pool reconnects by itself
once the server is back.

    online_store:
      type: stores.postgres.PostgresOnlineStore
      host: ...            # every setting of Feast's postgres store
      wait_s: 2            # the longest a read waits for a connection
"""

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any, Literal

from feast.infra.online_stores.postgres_online_store.postgres import (
    PostgreSQLOnlineStore,
    PostgreSQLOnlineStoreConfig,
)
from feast.repo_config import RepoConfig
from psycopg import Connection
from psycopg_pool import ConnectionPool
from pydantic import PositiveFloat

from stores.feast_private import postgres_connection

TYPE = "stores.postgres.PostgresOnlineStore"


class PostgresOnlineStoreConfig(PostgreSQLOnlineStoreConfig):
    type: Literal["stores.postgres.PostgresOnlineStore"] = TYPE  # type: ignore[assignment]
    wait_s: PositiveFloat = 2.0


class PostgresOnlineStore(PostgreSQLOnlineStore):
    _lock = threading.Lock()

    @contextlib.contextmanager
    def _get_conn(self, config: RepoConfig, autocommit: bool = False) -> Iterator[Connection]:
        settings = config.online_store
        with self._pool(settings).connection(timeout=settings.wait_s) as connection:
            connection.set_autocommit(autocommit)
            yield connection

    def _pool(self, settings: PostgresOnlineStoreConfig) -> ConnectionPool:
        pool = self._conn_pool
        if pool is None:
            with self._lock:
                pool = self._conn_pool
                if pool is None:
                    pool = self._conn_pool = _open_pool(settings)
        return pool


def _open_pool(settings: PostgresOnlineStoreConfig) -> ConnectionPool:
    conninfo, feasts = postgres_connection(settings)
    kwargs: dict[str, Any] = {
        **feasts,
        "keepalives_idle": settings.keepalives_idle,
        # libpq takes whole seconds, and reads 1 as 2
        "connect_timeout": max(2, math.ceil(settings.wait_s)),
    }
    pool = ConnectionPool(
        conninfo=conninfo,
        min_size=settings.min_conn,
        max_size=settings.max_conn,
        kwargs=kwargs,
        timeout=settings.wait_s,
        check=ConnectionPool.check_connection,
        open=False,
    )
    pool.open(wait=False)  # connections open in the background; a read waits at most wait_s
    return pool
