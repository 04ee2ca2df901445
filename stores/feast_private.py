"""Every private Feast name the platform uses, in one place. Feast offers no public way to
reach these; each is pinned by tests/stores/test_feast_private.py, which fails naming the one
that changed when a Feast upgrade moves or reshapes it.

- `provider(store)`, `online_store(store)`: the store's provider (`FeatureStore._get_provider`),
  for online reads and writes without Feast's per-request response building.
- `column_names`: a view's join keys, features, timestamp and created-timestamp columns
  (`feast.utils._get_column_names`).
- `entity_df_time_range`: the event-time span of an entity frame
  (`feast.infra.offline_stores.ibis._get_entity_df_event_timestamp_range`).
- The bulk engine (`stores/engine.py`) overrides `LocalComputeEngine._materialize_one`.
- The postgres store (`stores/postgres.py`) overrides `PostgreSQLOnlineStore._get_conn`, the
  one method its reads, writes and updates take a connection from, keeps its pool in
  `_conn_pool`, and opens connections as Feast does (`postgres_connection`: Feast's
  `_get_conninfo` and `_get_conn_kwargs`, imported only when a postgres store is used).
- `arrow_rows`: an Arrow table as Feast's online-write rows (`feast.utils._convert_arrow_to_proto`),
  for the Ray engine's writes to an online store without `write_arrow` (`stores/ray.py`).
- The Ray engine (`stores/ray.py`) overrides `RayComputeEngine._materialize_one` and replaces
  `RayComputeEngine.__init__` (which only sets `config` and starts Ray) to start Ray later.
"""

from typing import TYPE_CHECKING, Any

from feast.infra.offline_stores.ibis import (
    _get_entity_df_event_timestamp_range as entity_df_time_range,
)
from feast.utils import _convert_arrow_to_proto as arrow_rows
from feast.utils import _get_column_names as column_names

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.infra.online_stores.online_store import OnlineStore

__all__ = [
    "arrow_rows",
    "column_names",
    "entity_df_time_range",
    "online_store",
    "postgres_connection",
    "provider",
]


def provider(store: "FeatureStore") -> Any:
    return store._get_provider()


def online_store(store: "FeatureStore") -> "OnlineStore":
    return store._get_provider().online_store


def postgres_connection(settings: Any) -> tuple[str, dict[str, Any]]:
    """(conninfo, connection keyword arguments) of Feast's postgres settings, as its store
    builds them."""
    from feast.infra.utils.postgres.connection_utils import _get_conn_kwargs, _get_conninfo

    return _get_conninfo(settings), _get_conn_kwargs(settings)
