"""`AsofDuckDBOfflineStore`: Feast's DuckDB offline store with an as-of point-in-time join.

Each view's join is a sorted search (`stores.search`: Polars and NumPy); where that cannot
answer exactly it is a DuckDB ASOF join (`stores.asof`). Configure with
`offline_store: {type: stores.offline.AsofDuckDBOfflineStore}`. What it does not
handle itself it hands to the stock DuckDB store it extends: entity frames given as SQL, sources
other than local parquet FileSources, substrait on-demand views, and
`filter_by_created_timestamp=True` on a view with a created timestamp (that filter is not an
as-of condition on the event time).
"""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast.errors import FeastEntityDFMissingColumnsError, SavedDatasetLocationAlreadyExists
from feast.feature_view import FeatureView
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.file_source import SavedDatasetFileStorage
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import infer_event_timestamp_from_entity_df
from feast.infra.registry.base_registry import BaseRegistry
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.repo_config import RepoConfig
from pydantic import StrictStr

from stores.asof import ROW, TS, ViewJoin, asof_sql, view_join
from stores.duck import Limits, connect, ident, parquet_scan, timestamp
from stores.errors import UnsupportedSourceError
from stores.feast_private import entity_df_time_range
from stores.search import EntityRows, search_join

EPOCH = datetime(1970, 1, 1)


class AsofDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: StrictStr = "stores.offline.AsofDuckDBOfflineStore"
    memory_limit: StrictStr = "2GB"
    """DuckDB's memory limit per query; beyond it DuckDB spills to temp_root."""
    threads: int | None = None
    temp_root: StrictStr = "/tmp/feast-stores"
    """Each query spills into its own folder under this root, removed when the query ends."""
    max_temp_size: StrictStr = "20GB"


def limits(config: RepoConfig) -> Limits:
    store = config.offline_store
    if not isinstance(store, AsofDuckDBOfflineStoreConfig):
        return Limits()
    return Limits(store.memory_limit, store.threads, store.temp_root, store.max_temp_size)


class AsofRetrievalJob(RetrievalJob):
    """A lazy result: `run` computes the Arrow table when it is asked for."""

    def __init__(
        self,
        run: Callable[[], pa.Table],
        on_demand_feature_views: list[OnDemandFeatureView] | None = None,
        full_feature_names: bool = False,
        metadata: RetrievalMetadata | None = None,
    ) -> None:
        super().__init__()
        self._run = run
        self._odfvs = on_demand_feature_views or []
        self._full_feature_names = full_feature_names
        self._metadata = metadata

    def to_df(self, validation_reference=None, timeout: int | None = None) -> pd.DataFrame:
        # Feast's to_df adds reset_index(drop=True), a full copy of a frame that already has
        # a RangeIndex: at ten million rows that copy is the peak.
        return self.to_arrow(validation_reference=validation_reference, timeout=timeout).to_pandas()

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return self._run()

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._run().to_pandas()

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        # Feast hands each on-demand view the whole frame, converted to Python objects: with
        # forty columns that conversion, not the view, was most of a training frame's time
        return [DeclaredInputs(view) for view in self._odfvs]  # type: ignore[misc]

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def persist(self, storage, allow_overwrite: bool = False, timeout: int | None = None):
        if not isinstance(storage, SavedDatasetFileStorage):
            raise NotImplementedError(f"cannot persist to {type(storage).__name__}")
        path = Path(storage.file_options.uri)
        if path.exists() and not allow_overwrite:
            raise SavedDatasetLocationAlreadyExists(location=str(path))
        pq.write_table(self.to_arrow(), path)


class DeclaredInputs:
    """An on-demand view that transforms only the columns it declares as inputs: its source
    views' features (under the plain and the `view__feature` names) and its request fields.
    That is what the online server gives it too, so training and serving run it on the same
    inputs. Every other attribute is the view's own."""

    def __init__(self, view: OnDemandFeatureView) -> None:
        self._view = view
        names = [
            name
            for projection in view.source_feature_view_projections.values()
            for f in projection.features
            for name in (f.name, f"{projection.name}__{f.name}")
        ]
        names += [f.name for s in view.source_request_sources.values() for f in s.schema]
        self._inputs = list(dict.fromkeys(names))

    def __getattr__(self, name: str):
        return getattr(self._view, name)

    def transform_arrow(self, table: pa.Table, full_feature_names: bool = False) -> pa.Table:
        present = set(table.column_names)
        narrow = table.select([name for name in self._inputs if name in present])
        return self._view.transform_arrow(narrow, full_feature_names)


class AsofDuckDBOfflineStore(DuckDBOfflineStore):
    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        try:
            _check_fast_path(entity_df, feature_views, odfvs, filter_by_created_timestamp)
            joins = [view_join(fv, feature_refs, full_feature_names) for fv in feature_views]
        except UnsupportedSourceError:
            return DuckDBOfflineStore.get_historical_features(
                config, feature_views, feature_refs, entity_df, registry, project,
                full_feature_names, filter_by_created_timestamp,
            )  # fmt: skip
        assert isinstance(entity_df, pd.DataFrame)  # _check_fast_path sent SQL to the stock join
        ts_col = infer_event_timestamp_from_entity_df(
            dict(zip(entity_df.columns, entity_df.dtypes, strict=True))
        )
        lo, hi = entity_df_time_range(entity_df, ts_col) if len(entity_df) else (None, None)
        metadata = RetrievalMetadata(
            features=feature_refs,
            keys=list(set(entity_df.columns) - {ts_col}),
            min_event_timestamp=lo,
            max_event_timestamp=hi,
        )
        return AsofRetrievalJob(
            lambda: point_in_time_join(entity_df, ts_col, joins, limits(config)),
            odfvs,
            full_feature_names,
            metadata,
        )

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig,
        data_source,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime,
        end_date: datetime,
    ) -> RetrievalJob:
        try:
            scan = parquet_scan(data_source)
        except UnsupportedSourceError:
            return DuckDBOfflineStore.pull_latest_from_table_or_query(
                config, data_source, join_key_columns, feature_name_columns, timestamp_field,
                created_timestamp_column, start_date, end_date,
            )  # fmt: skip
        sql = latest_sql(
            scan.sql(), join_key_columns, feature_name_columns, timestamp_field,
            created_timestamp_column, start_date, end_date,
        )  # fmt: skip
        return AsofRetrievalJob(lambda: _query(sql, limits(config)))


def _check_fast_path(entity_df, views, odfvs, filter_by_created: bool) -> None:
    if not isinstance(entity_df, pd.DataFrame):
        raise UnsupportedSourceError("entity frames given as SQL go to the stock join")
    if any(odfv.mode == "substrait" for odfv in odfvs):
        raise UnsupportedSourceError("substrait on-demand views go to the stock join")
    if filter_by_created and any(v.batch_source.created_timestamp_column for v in views):
        raise UnsupportedSourceError("filter_by_created_timestamp goes to the stock join")


def _query(sql: str, lim: Limits) -> pa.Table:
    with connect(lim) as conn:
        return conn.sql(sql).to_arrow_table()


def latest_sql(scan, keys, features, ts, created, start: datetime, end: datetime) -> str:
    """Each entity's latest row with start <= event time <= end: by event time, then created
    time, nulls last. A grouped max_by instead of stock Feast's window over all history."""
    cols = keys + features + [ts] + ([created] if created else [])
    row = ", ".join(f"{ident(c)} := {ident(c)}" for c in cols)
    order = f"CAST({ident(ts)} AS TIMESTAMPTZ)"
    if created:
        order = (
            f"struct_pack(t := {order}, c := coalesce(CAST({ident(created)} AS TIMESTAMPTZ), "
            "'-infinity'::TIMESTAMPTZ))"
        )
    where = [
        f"CAST({ident(ts)} AS TIMESTAMPTZ) BETWEEN {timestamp(start)} AND {timestamp(end)}"
    ] + [f"{ident(k)} IS NOT NULL" for k in keys]
    group = ", ".join(ident(k) for k in keys)
    return (
        f"SELECT unnest(max_by(struct_pack({row}), {order})) FROM {scan} "
        f"WHERE {' AND '.join(where)} GROUP BY {group}"
    )


def point_in_time_join(
    entity_df: pd.DataFrame, ts_col: str, joins: list[ViewJoin], lim: Limits
) -> pa.Table:
    """`entity_df` (its rows in order, its columns as given) with every join's features: each
    view by the sorted search (`stores.search`), or by the DuckDB as-of join where the search
    declines it."""
    table, ts = _entity_table(entity_df, ts_col)
    keys = sorted({col for join in joins for _, col in join.keys})
    missing = set(keys) - set(table.column_names)
    if missing:
        raise FeastEntityDFMissingColumnsError(set(keys), missing)
    entities = None
    if ts.null_count == 0:  # rows without a time go to DuckDB, where they match nothing
        entities = EntityRows.of(table, ts, keys)
    for join in joins:
        features = _view_features(table, ts, keys, entities, join, lim)
        if features.num_columns and features.num_rows != table.num_rows:
            raise AssertionError(f"as-of join gave {features.num_rows} rows for {table.num_rows}")
        for name in features.column_names:
            table = table.append_column(name, features[name])
    return table


def _view_features(
    table: pa.Table,
    ts: pa.ChunkedArray,
    keys: list[str],
    entities: EntityRows | None,
    join: ViewJoin,
    lim: Limits,
) -> pa.Table:
    """One view's features for the entity rows: by the sorted search where it can answer."""
    if entities is not None:
        try:
            return search_join(entities, join)
        except UnsupportedSourceError:
            pass  # the DuckDB join answers what the search cannot
    return _duckdb_join(table, ts, keys, join, lim)


def _duckdb_join(
    table: pa.Table, ts: pa.ChunkedArray, keys: list[str], join: ViewJoin, lim: Limits
) -> pa.Table:
    relation = pa.table(
        {ROW: np.arange(table.num_rows, dtype="int64"), TS: ts, **{k: table[k] for k in keys}}
    )
    bounds = pc.min_max(ts)
    lo, hi = bounds["min"].as_py() or EPOCH, bounds["max"].as_py() or EPOCH
    with connect(lim) as conn:
        conn.register("entity_rows", relation)
        features = conn.sql(asof_sql("entity_rows", [join], lo, hi)).to_arrow_table()
    return features.drop_columns([ROW])


def _microseconds(table: pa.Table) -> pa.Table:
    """Nanosecond timestamps truncated to microseconds, as stock Feast's DuckDB round trip
    returns them (and as the platform stores time)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            micros = pa.timestamp("us", tz=field.type.tz)
            table = table.set_column(i, field.name, pc.cast(table[i], micros, safe=False))
    return table


def _entity_table(entity_df: pd.DataFrame, ts_col: str) -> tuple[pa.Table, pa.ChunkedArray]:
    """The frame as Arrow, its timestamps parsed as stock Feast does, and those as UTC micros."""
    column = entity_df[ts_col].infer_objects()
    if pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column):
        entity_df = entity_df.assign(**{ts_col: pd.to_datetime(column, utc=True)})
    table = _microseconds(pa.Table.from_pandas(entity_df, preserve_index=False))
    ts = table[ts_col]
    if not pa.types.is_timestamp(ts.type):
        raise TypeError(f"entity column {ts_col!r} holds {ts.type}, not timestamps")
    # Naive means UTC (Feast's coerce_tz_aware does the same); nanoseconds are truncated.
    return table, pc.cast(ts, pa.timestamp("us", tz="UTC"), safe=False)
