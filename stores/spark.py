"""`FileSparkOfflineStore`: Feast's Spark offline store over the platform's parquet FileSources.

Configure with `offline_store: {type: stores.spark.FileSparkOfflineStore, spark_conf: {...}}`
(every setting of Feast's `spark` store applies; deploy/tiers/spark is the tier that does).

Feast's SparkOfflineStore reads SparkSources (and IcebergSources) only, and refuses the
FileSources every domain declares. This store leaves the domain's declarations alone: for each
call it translates each parquet FileSource into the SparkSource that reads the same file (its
path resolved against the repo, its timestamp fields, field mapping and date partition column)
and hands the views to Feast's store. Around Feast's code it holds the platform's rules on time:

- the session's time zone is UTC: Feast compares event times with naive UTC strings, which
  Spark reads in the session's zone;
- a table with nanosecond timestamps is refused naming the file and column (Spark cannot read
  them; the platform writes microseconds);
- answers come back through Arrow with every timestamp as UTC microseconds, as the embedded
  store answers (Feast's own job goes through pandas and returns naive times).
"""

import copy
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from feast.data_format import ParquetFormat
from feast.data_source import DataSource
from feast.feature_view import FeatureView
from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
    SparkOfflineStore,
    SparkOfflineStoreConfig,
    SparkRetrievalJob,
    get_spark_session_or_start_new_with_repoconfig,
)
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.offline_store import RetrievalJob
from feast.repo_config import RepoConfig
from pydantic import StrictStr

from stores.errors import StoreError

UTC_MICROS = pa.timestamp("us", tz="UTC")


class FileSparkOfflineStoreConfig(SparkOfflineStoreConfig):
    type: StrictStr = "stores.spark.FileSparkOfflineStore"


def session(config: RepoConfig) -> Any:
    """Feast's Spark session for this store, its time zone set to UTC whatever started it."""
    spark = get_spark_session_or_start_new_with_repoconfig(config.offline_store)
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def source_path(source: FileSource, config: RepoConfig) -> str:
    """The file a FileSource names; a relative path is the repo's, as `feast apply` reads it."""
    return FileSource.get_uri_for_file_path(config.repo_path, source.path)


def check_timestamps(path: str, source: DataSource) -> None:
    """Refuse a local table Spark would fail on (nanosecond timestamps) or cannot find."""
    if "://" in path and not path.startswith("file://"):
        return  # a remote table: Spark's own error names it
    local = Path(path.removeprefix("file://"))
    if not local.exists():
        raise StoreError(
            f"no offline table {local} for source {source.name!r}: build the offline store "
            "first (`python -m pipelines transform`)"
        )
    nanos = [
        field.name
        for field in ds.dataset(local, format="parquet").schema
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns"
    ]
    if nanos:
        raise StoreError(
            f"{local} holds nanosecond timestamps in {nanos}, which Spark cannot read: write "
            "the table with microsecond UTC timestamps, as the platform's jobs do"
        )


def spark_source(source: DataSource, config: RepoConfig) -> DataSource:
    """The source Feast's Spark store reads for `source`: a parquet FileSource as the
    SparkSource of the same file, a SparkSource or IcebergSource as it is."""
    if not isinstance(source, FileSource):
        return source  # Feast's store accepts or refuses it, naming it
    if source.file_format is not None and not isinstance(source.file_format, ParquetFormat):
        raise StoreError(
            f"source {source.name!r} is {type(source.file_format).__name__}: the Spark tier "
            "reads parquet FileSources only"
        )
    path = source_path(source, config)
    check_timestamps(path, source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "experimental", once per source
        return SparkSource(
            name=source.name,
            path=path,
            file_format="parquet",
            timestamp_field=source.timestamp_field,
            created_timestamp_column=source.created_timestamp_column or None,
            field_mapping=dict(source.field_mapping),
            date_partition_column=source.date_partition_column or None,
            description=source.description,
            tags=dict(source.tags),
            owner=source.owner,
        )


def spark_view(view: FeatureView, config: RepoConfig) -> FeatureView:
    """A copy of `view` (projection included) reading its batch source through Spark."""
    if view.batch_source is None:
        return view
    translated = copy.copy(view)
    translated.batch_source = spark_source(view.batch_source, config)
    return translated


def utc_micros(table: pa.Table) -> pa.Table:
    """Every timestamp column as UTC microseconds (naive ones are UTC, as Feast reads them)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type != UTC_MICROS:
            column = table[i]
            if field.type.tz is None:
                column = pc.assume_timezone(column, "UTC")
            table = table.set_column(i, field.name, pc.cast(column, UTC_MICROS, safe=False))
    return table


class ArrowSparkRetrievalJob(SparkRetrievalJob):
    """Feast's Spark job, its answer collected through Arrow (`toArrow`) as UTC micros."""

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        if self.supports_remote_storage_export():  # a staging_location: Feast reads its files
            return utc_micros(super()._to_arrow_internal(timeout))
        return utc_micros(self.to_spark_df().toArrow())

    def _to_df_internal(self, timeout: int | None = None) -> Any:
        return self._to_arrow_internal(timeout).to_pandas()


def _arrow_job(job: RetrievalJob, config: RepoConfig) -> RetrievalJob:
    if not isinstance(job, SparkRetrievalJob):
        return job
    return ArrowSparkRetrievalJob(
        spark_session=job.spark_session,
        query=job.query,
        full_feature_names=job.full_feature_names,
        config=config,
        on_demand_feature_views=job.on_demand_feature_views,
        metadata=job.metadata,
    )


def _pulled(pull: Any, config: RepoConfig, data_source: DataSource, *args: Any) -> RetrievalJob:
    """Feast's Spark `pull` over the SparkSource of `data_source`, answered through Arrow."""
    session(config)
    return _arrow_job(pull(config, spark_source(data_source, config), *args), config)


class FileSparkOfflineStore(SparkOfflineStore):
    @staticmethod
    def get_historical_features(  # type: ignore[override]
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: Any,
        registry: Any,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        session(config)
        views = [spark_view(view, config) for view in feature_views]
        job = SparkOfflineStore.get_historical_features(
            config, views, feature_refs, entity_df, registry, project, full_feature_names,
            filter_by_created_timestamp, **kwargs,
        )  # fmt: skip
        return _arrow_job(job, config)

    @staticmethod
    def pull_latest_from_table_or_query(  # type: ignore[override]
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: Any,
        end_date: Any,
    ) -> RetrievalJob:
        return _pulled(
            SparkOfflineStore.pull_latest_from_table_or_query, config, data_source,
            join_key_columns, feature_name_columns, timestamp_field, created_timestamp_column,
            start_date, end_date,
        )  # fmt: skip

    @staticmethod
    def pull_all_from_table_or_query(  # type: ignore[override]
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: Any = None,
        end_date: Any = None,
    ) -> RetrievalJob:
        return _pulled(
            SparkOfflineStore.pull_all_from_table_or_query, config, data_source,
            join_key_columns, feature_name_columns, timestamp_field, created_timestamp_column,
            start_date, end_date,
        )  # fmt: skip

    @staticmethod
    def offline_write_batch(config: RepoConfig, feature_view: FeatureView, table, progress):
        """Refused for FileSources: Spark would write a folder of parts over the domain's file;
        the platform's jobs own the offline tables."""
        if isinstance(feature_view.batch_source, FileSource):
            raise StoreError(
                f"view {feature_view.name!r}: the Spark tier does not write to FileSources; "
                "the platform's transform writes the offline tables"
            )
        return SparkOfflineStore.offline_write_batch(config, feature_view, table, progress)
