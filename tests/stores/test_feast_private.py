"""The private Feast names the platform relies on (stores/feast_private.py) are still there,
with the parameters it calls them with: an upgrade that moves one fails here, by name."""

import inspect

import pytest
from feast import FeatureStore
from feast.infra.compute_engines.local.compute import LocalComputeEngine
from feast.infra.online_stores.online_store import OnlineStore

from stores import feast_private

EXPECTED = {
    "FeatureStore._get_provider": (FeatureStore._get_provider, ["self"]),
    "feast.utils._get_column_names": (feast_private.column_names, ["feature_view", "entities"]),
    "feast.infra.offline_stores.ibis._get_entity_df_event_timestamp_range": (
        feast_private.entity_df_time_range,
        ["entity_df", "entity_df_event_timestamp_col"],
    ),
    "LocalComputeEngine._materialize_one": (
        LocalComputeEngine._materialize_one,
        ["self", "registry", "task", "kwargs"],
    ),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_private_name_keeps_its_parameters(name: str) -> None:
    function, parameters = EXPECTED[name]
    assert list(inspect.signature(function).parameters) == parameters, name


def test_the_provider_reaches_the_configured_online_store(platform) -> None:
    store = FeatureStore(repo_path=str(platform.feature_repo))
    online = feast_private.online_store(store)
    assert isinstance(online, OnlineStore)
    assert feast_private.provider(store).online_store is online
    assert callable(online.online_read)


def test_the_postgres_store_takes_every_connection_from_get_conn() -> None:
    """stores/postgres.py replaces `_get_conn` alone: each method that talks to PostgreSQL must
    still take its connection there, and the pool must still live in `_conn_pool`."""
    from feast.infra.online_stores.postgres_online_store.postgres import PostgreSQLOnlineStore

    parameters = inspect.signature(PostgreSQLOnlineStore._get_conn).parameters
    assert list(parameters) == ["self", "config", "autocommit"]
    assert "_conn_pool" in vars(PostgreSQLOnlineStore)
    for name in ("online_write_batch", "online_read", "update", "teardown"):
        source = inspect.getsource(getattr(PostgreSQLOnlineStore, name))
        assert "self._get_conn(" in source and "psycopg.connect" not in source, name


def test_postgres_connections_open_as_feasts_do() -> None:
    from feast.infra.online_stores.postgres_online_store.postgres import (
        PostgreSQLOnlineStoreConfig,
    )

    settings = PostgreSQLOnlineStoreConfig(
        host="db", port=5433, database="d", user="u", password="p", sslmode="disable"
    )
    conninfo, kwargs = feast_private.postgres_connection(settings)
    assert {"host=db", "port=5433", "dbname=d", "user=u"} <= set(conninfo.split())
    assert kwargs["sslmode"] == "disable" and "search_path" in kwargs["options"]


def test_the_arrow_rows_of_the_ray_engine_keep_their_parameters() -> None:
    """stores/ray.py writes through `arrow_rows` to an online store without `write_arrow`."""
    parameters = inspect.signature(feast_private.arrow_rows).parameters
    assert list(parameters) == ["table", "feature_view", "join_keys"]


@pytest.mark.engines  # Feast's Ray engine imports ray: the engines extra (make test-engines)
def test_the_ray_engine_overrides_what_it_expects() -> None:
    """stores/ray.py overrides `_materialize_one` and replaces `RayComputeEngine.__init__`,
    which must still only set `config` and start Ray (it starts it at materialization)."""
    from feast.infra.compute_engines.ray.compute import RayComputeEngine

    run = inspect.signature(RayComputeEngine._materialize_one).parameters
    assert list(run) == ["self", "registry", "task", "from_offline_store", "kwargs"]
    init = inspect.getsource(RayComputeEngine.__init__)
    body = [line.strip() for line in init.splitlines() if line.strip()]
    assert body[-2:] == [
        "assert isinstance(self.config, RayComputeEngineConfig)",
        "self._ensure_ray_initialized()",
    ]
    assert "self.config = repo_config.batch_engine" in body
    assert sum(line.startswith("self.") for line in body) == 2  # config, and starting Ray
