"""`RayBulkComputeEngine`: materialization through Feast's Ray compute engine, as the platform
promises it (online = offline at the end of the run).

Configure with `batch_engine: {type: stores.ray.RayBulkComputeEngine, ...}`: every setting of
Feast's `ray.engine` applies (`ray_address`, `ray_conf`, `write_concurrency`, ...), and
deploy/tiers/ray is the tier that uses it. For a plain view (no transformation, aggregation,
validation or offline write) the engine runs a plan of Feast's DAG nodes of its own:

1. read each entity's latest row in the run's window from the offline store (any store: a
   Ray offline store's dataset stays on the cluster, others are handed to Ray as Arrow);
2. write it from Ray workers through the online store's bulk path (`write_arrow`, Feast's
   protobuf rows for a store without one), a failed write failing the run.

Feast's own plan reads every row of the window, drops those older than *now* - ttl (for data
that ends in the past: all of them), de-duplicates per block only and, when a write fails,
logs it and reports success. Views the plan above does not take go to Feast's plan unchanged.
Feast's engine starts Ray when it is built, which `feast apply` does too; this one starts Ray
at its first materialization, and again after a `ray.shutdown()`.
"""

from typing import Any, Literal

import pyarrow as pa
import ray
from feast import FeatureView
from feast.infra.common.materialization_job import (
    MaterializationJob,
    MaterializationJobStatus,
    MaterializationTask,
)
from feast.infra.common.serde import SerializedArtifacts
from feast.infra.compute_engines.base import ComputeEngine
from feast.infra.compute_engines.dag.context import ExecutionContext
from feast.infra.compute_engines.dag.model import DAGFormat
from feast.infra.compute_engines.dag.node import DAGNode
from feast.infra.compute_engines.dag.plan import ExecutionPlan
from feast.infra.compute_engines.dag.value import DAGValue
from feast.infra.compute_engines.ray.compute import RayComputeEngine
from feast.infra.compute_engines.ray.config import RayComputeEngineConfig
from feast.infra.compute_engines.ray.job import RayMaterializationJob
from feast.infra.ray_initializer import ensure_ray_initialized
from feast.infra.ray_shared_utils import apply_field_mapping
from feast.infra.registry.base_registry import BaseRegistry

from stores.engine import field_mapping, latest_only, latest_rows, stored_names
from stores.errors import StoreError
from stores.feast_private import arrow_rows


class RayBulkComputeEngineConfig(RayComputeEngineConfig):
    type: Literal["stores.ray.RayBulkComputeEngine"] = "stores.ray.RayBulkComputeEngine"  # type: ignore[assignment]


class LatestRowsNode(DAGNode):
    """Each entity's latest row with start <= event time <= end, as a Ray dataset."""

    def __init__(self, name: str, task: MaterializationTask, rows_per_block: int | None):
        super().__init__(name)
        self.task = task
        self.rows_per_block = rows_per_block

    def execute(self, context: ExecutionContext) -> DAGValue:
        view = self.task.feature_view
        config, entities = context.repo_config, context.entity_defs
        job = latest_rows(context.offline_store, config, self.task, entities)
        if hasattr(job, "to_ray_dataset"):  # Feast's Ray offline store: stays on the cluster
            dataset = apply_field_mapping(job.to_ray_dataset(), field_mapping(self.task))
        else:
            table = stored_names(job.to_arrow(), self.task)
            dataset = ray.data.from_arrow(blocks(table, self.rows_per_block))
        return DAGValue(data=dataset, format=DAGFormat.RAY, metadata={"view": view.name})


def blocks(table: pa.Table, rows: int | None) -> list[pa.Table]:
    """`table` in slices of at most `rows` rows (one slice when None), one Ray block each."""
    if not rows or table.num_rows <= rows:
        return [table]
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)]


def write_block(batch: pa.Table, artifacts: SerializedArtifacts) -> pa.Table:
    """Write one block to the online store (in a Ray worker): rows written, or the error.

    The error goes back as data: Ray Data re-raises a failed task as its own UserCodeException,
    whose message no longer says what failed.
    """
    try:
        view, online, _, config = artifacts.unserialize()
        if batch.num_rows and hasattr(online, "write_arrow"):
            online.write_arrow(config, view, batch)
        elif batch.num_rows:
            types = {c.name: c.dtype.to_value_type() for c in view.entity_columns}
            online.online_write_batch(config, view, arrow_rows(batch, view, types), None)
    except Exception as exc:
        return _outcome(0, f"{type(exc).__name__}: {exc}")
    return _outcome(batch.num_rows, None)


def _outcome(rows: int, error: str | None) -> pa.Table:
    return pa.table({"rows": pa.array([rows], pa.int64()), "error": pa.array([error], pa.string())})


class OnlineWriteNode(DAGNode):
    """Its input's rows written to the online store by Ray workers, errors raised."""

    def __init__(self, name: str, view: FeatureView, concurrency: int, inputs: list[DAGNode]):
        super().__init__(name, inputs=inputs)
        self.view = view
        self.concurrency = concurrency

    def execute(self, context: ExecutionContext) -> DAGValue:
        dataset = self.get_single_input_value(context).data
        artifacts = SerializedArtifacts.serialize(self.view, context.repo_config)
        outcomes = dataset.map_batches(
            write_block,
            fn_kwargs={"artifacts": artifacts},
            batch_format="pyarrow",
            batch_size=None,  # a block at a time: one online-store transaction each
            concurrency=self.concurrency,
        ).to_pandas()  # a row per block
        errors = outcomes["error"].dropna().tolist() if len(outcomes) else []
        if errors:
            raise StoreError(
                f"materializing view {self.view.name!r} through Ray failed: {errors[0]} "
                f"({len(errors)} of {len(outcomes)} blocks)"
            )
        rows = int(outcomes["rows"].sum()) if len(outcomes) else 0
        return DAGValue(data=rows, format=DAGFormat.ARROW, metadata={"rows": rows})


class RayBulkComputeEngine(RayComputeEngine):
    def __init__(self, offline_store: Any, online_store: Any, repo_config: Any, **kwargs: Any):
        # Not RayComputeEngine.__init__: it starts Ray, and `feast apply` builds the engine.
        ComputeEngine.__init__(
            self,
            offline_store=offline_store,
            online_store=online_store,
            repo_config=repo_config,
            **kwargs,
        )
        self.config = repo_config.batch_engine

    def start(self) -> None:
        """Start (or join) Ray as configured; again if someone shut it down since."""
        ensure_ray_initialized(self.config, force_reinit=not ray.is_initialized())

    def _materialize_one(
        self,
        registry: BaseRegistry,
        task: MaterializationTask,
        from_offline_store: bool = False,
        **kwargs: Any,
    ) -> MaterializationJob:
        self.start()
        if from_offline_store or not latest_only(task):
            return super()._materialize_one(registry, task, from_offline_store, **kwargs)
        view = task.feature_view
        job_id = f"{view.name}-{task.start_time}-{task.end_time}"
        try:
            result = self.plan(task).execute(self.get_execution_context(registry, task))
        except Exception as exc:  # reported through the job: Feast raises it for the caller
            error = failed(view, exc)
            return RayMaterializationJob(job_id, MaterializationJobStatus.ERROR, error=error)
        return RayMaterializationJob(job_id, MaterializationJobStatus.SUCCEEDED, result=result)

    def plan(self, task: MaterializationTask) -> ExecutionPlan:
        view = task.feature_view
        batch = self.repo_config.materialization_config.online_write_batch_size
        read = LatestRowsNode(f"{view.name}:latest", task, batch)
        concurrency = self.config.write_concurrency or self.config.max_workers or 1
        write = OnlineWriteNode(f"{view.name}:write", view, concurrency, [read])
        return ExecutionPlan([read, write])


def failed(view: FeatureView, exc: BaseException) -> StoreError:
    """What went wrong in a Ray worker, by its own message, without Ray's remote traceback."""
    cause = root_cause(exc)
    if isinstance(cause, StoreError):
        return cause
    message = str(cause).strip().splitlines()
    return StoreError(
        f"materializing view {view.name!r} through Ray failed: {type(cause).__name__}: "
        f"{message[-1] if message else 'no message'}"
    )


def root_cause(exc: BaseException) -> BaseException:
    """The first error that is not Ray's wrapping of another (a task or UDF failure)."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "cause", None) or exc.__cause__
        if inner is None or not type(exc).__module__.startswith("ray"):
            return exc
        exc = inner
    return exc
