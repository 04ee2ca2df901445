"""`BulkComputeEngine`: materialization that stays columnar from the offline store to SQLite.

Configure with `batch_engine: {type: stores.engine.BulkComputeEngine}`. Feast's local engine
pulls every history row in the window, de-duplicates them in pandas, converts each value to a
protobuf message and hands those to the online store. This engine asks the offline store for
the latest row per entity (`pull_latest_from_table_or_query`, a grouped max_by in DuckDB for
`AsofDuckDBOfflineStore`) and gives the Arrow table to an online store that can write Arrow
(`write_arrow`, as `BulkSqliteOnlineStore` does). Views it cannot take that way (transformations,
aggregations, validation, offline writes, or an online store without `write_arrow`) go through
the local engine unchanged.
"""

from typing import Any, Literal, Protocol, cast

import pyarrow as pa
from feast import FeatureView
from feast.feature_view import DUMMY_ENTITY_NAME
from feast.infra.common.materialization_job import MaterializationJobStatus, MaterializationTask
from feast.infra.compute_engines.local.compute import LocalComputeEngine, LocalComputeEngineConfig
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.infra.offline_stores.offline_store import RetrievalJob
from feast.infra.registry.base_registry import BaseRegistry
from feast.repo_config import RepoConfig

from stores.feast_private import column_names


class ArrowWriter(Protocol):
    """An online store that writes Arrow tables (as `BulkSqliteOnlineStore` does)."""

    def write_arrow(self, config: RepoConfig, view: FeatureView, table: pa.Table) -> None: ...


class BulkComputeEngineConfig(LocalComputeEngineConfig):
    type: Literal["stores.engine.BulkComputeEngine"] = "stores.engine.BulkComputeEngine"  # type: ignore[assignment]


class BulkComputeEngine(LocalComputeEngine):
    def _materialize_one(
        self, registry: BaseRegistry, task: MaterializationTask, **kwargs
    ) -> LocalMaterializationJob:
        if not self._takes(task):
            return super()._materialize_one(registry, task, **kwargs)
        job_id = f"{task.feature_view.name}-{task.start_time}-{task.end_time}"
        try:
            table = self._latest_rows(registry, task)
            if table.num_rows:
                # _takes admitted only an online store with write_arrow
                writer = cast(ArrowWriter, self.online_store)
                writer.write_arrow(self.repo_config, task.feature_view, table)
        except Exception as exc:  # reported through the job, as the local engine does
            return LocalMaterializationJob(job_id, MaterializationJobStatus.ERROR, error=exc)
        return LocalMaterializationJob(job_id, MaterializationJobStatus.SUCCEEDED)

    def _takes(self, task: MaterializationTask) -> bool:
        return hasattr(self.online_store, "write_arrow") and latest_only(task)

    def _latest_rows(self, registry: BaseRegistry, task: MaterializationTask) -> pa.Table:
        view = task.feature_view
        entities = [registry.get_entity(name, task.project) for name in view.entities]
        job = latest_rows(self.offline_store, self.repo_config, task, entities)
        return stored_names(job.to_arrow(), task)


def latest_only(task: MaterializationTask) -> bool:
    """A view whose materialization is each entity's latest row, as stored: keyed, online
    only, with no transformation, aggregation or validation (the others go to Feast's plan)."""
    view = task.feature_view
    return (
        task.only_latest
        and type(view) is FeatureView
        and view.batch_source is not None
        and DUMMY_ENTITY_NAME not in view.entities  # entity-less views have no key to group by
        and view.online
        and not view.offline
        and not getattr(view, "source_views", None)
        and not getattr(view, "feature_transformation", None)
        and not getattr(view, "aggregations", None)
        and not getattr(view, "enable_validation", False)
    )


def latest_rows(
    offline_store: Any, config: RepoConfig, task: MaterializationTask, entities: list[Any]
) -> RetrievalJob:
    """The offline store's job for each entity's latest row in the task's window (a view
    `latest_only` takes)."""
    view = task.feature_view
    keys, features, ts, created = column_names(view, entities)
    return offline_store.pull_latest_from_table_or_query(
        config=config,
        data_source=_source(task),
        join_key_columns=keys,
        feature_name_columns=features,
        timestamp_field=ts,
        created_timestamp_column=created,
        start_date=task.start_time,
        end_date=task.end_time,
    )


def field_mapping(task: MaterializationTask) -> dict[str, str]:
    """The view's source's field mapping: offline column -> the name the view stores."""
    return _source(task).field_mapping


def stored_names(table: pa.Table, task: MaterializationTask) -> pa.Table:
    """The offline columns under the names the view stores."""
    mapping = field_mapping(task)
    return table.rename_columns([mapping.get(c, c) for c in table.column_names])


def _source(task: MaterializationTask) -> Any:
    source = task.feature_view.batch_source
    assert source is not None  # latest_only admits only views with a batch source
    return source
