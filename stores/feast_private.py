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
"""

from typing import TYPE_CHECKING, Any

from feast.infra.offline_stores.ibis import (
    _get_entity_df_event_timestamp_range as entity_df_time_range,
)
from feast.utils import _get_column_names as column_names

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.infra.online_stores.online_store import OnlineStore

__all__ = ["column_names", "entity_df_time_range", "online_store", "provider"]


def provider(store: "FeatureStore") -> Any:
    return store._get_provider()


def online_store(store: "FeatureStore") -> "OnlineStore":
    return store._get_provider().online_store
