"""The cluster engines keep the platform's promises on each domain, on a real local Spark
session (deploy/tiers/spark) and a real local Ray (deploy/tiers/ray):

- Spark: the training frame of each domain's slice equals the embedded store's value for value
  (rows, columns, NaN and None, timestamps), Feast's raw answer included, and the leakage guard
  runs on it (and still catches a value moved in it); the translation of FileSources refuses,
  by name, what Spark would get wrong.
- Ray: materializing a copy of each domain's platform passes the pipeline's own parity check
  and fills the online values the embedded engine fills, for every entity; a write that fails
  in a Ray worker fails the run naming the view; Ray starts at the first materialization (with
  the tier's two CPUs), again after a shutdown, and stops when the tests end.

Run by `make test-engines` (marker `engines`); needs the `engines` extra (pyspark, ray).
"""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from larder import tier as tiers
from pipelines import parity, stages
from pipelines.settings import PipelineSettings
from tests.conftest import ROOT
from tests.tiers.conftest import embedded, on_tier
from tests.training.conftest import slice_settings
from training import leakage
from training.contract import service_inputs
from training.errors import LeakageError
from training.examples import ROW_ID, entity_columns
from training.frames import build_training_frame, entities_for, get_service, load_examples
from training.settings import TrainingSettings

SPARK = ROOT / "deploy" / "tiers" / "spark"
RAY = ROOT / "deploy" / "tiers" / "ray"

pytestmark = pytest.mark.engines


@contextmanager
def on(folder: Path) -> Iterator[None]:
    """The tier in `folder` for a while: what runs here opens the domain's stores through it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(tiers.TIER, str(folder))
        yield


def copied(original: PipelineSettings, base: Path) -> PipelineSettings:
    """A whole copy of a built platform (registry included), so its data folder stays as the
    shared fixture left it."""
    copy = base / original.feature_repo.name
    skip = shutil.ignore_patterns("tiers", "predictions", "__pycache__")
    shutil.copytree(original.feature_repo, copy, ignore=skip)
    return original.model_copy(update={"feature_repo": copy})


# -- Spark -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_stops() -> Iterator[None]:
    """The local Spark session the tier starts, stopped when the module's tests end."""
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@dataclass(frozen=True)
class SparkFrames:
    settings: TrainingSettings
    entities: pd.DataFrame  # what training sends to Feast
    embedded: pd.DataFrame  # the training frame, embedded store
    spark: pd.DataFrame  # the training frame, Spark tier (built past the leakage guard)


@pytest.fixture(scope="module", params=["flights", "storms"])
def spark_frames(request, platforms, tmp_path_factory, spark_stops) -> SparkFrames:
    with embedded():
        platform = copied(platforms(request.param), tmp_path_factory.mktemp("spark"))
        settings = slice_settings(platform)
        examples = load_examples(settings)
        reference = build_training_frame(settings, examples)
        store = tiers.open_store(settings.feature_repo)
        service = get_service(store, settings.service)
        keys, requested = service_inputs(store, service)
        entities = entities_for(store, service, examples, settings.task)
    with on(SPARK):
        frame = build_training_frame(settings, examples)  # the leakage guard runs inside
    return SparkFrames(settings, entities[entity_columns(keys, requested)], reference, frame)


def test_the_spark_training_frame_equals_the_embedded_one(spark_frames) -> None:
    pd.testing.assert_frame_equal(spark_frames.spark, spark_frames.embedded)
    features = spark_frames.spark.columns.difference(spark_frames.entities.columns)
    assert spark_frames.spark[features].notna().any().sum() > len(features) // 2


def _answer(settings: TrainingSettings, entities: pd.DataFrame) -> pd.DataFrame:
    store = tiers.open_store(settings.feature_repo)
    service = get_service(store, settings.service)
    answer = store.get_historical_features(entity_df=entities.copy(), features=service).to_df()
    return answer.sort_values(ROW_ID).reset_index(drop=True)


def test_feasts_answer_through_spark_is_the_embedded_one_timestamps_included(spark_frames):
    """Feast's own Spark job answers naive times through pandas; the tier's, UTC micros."""
    with embedded():
        want = _answer(spark_frames.settings, spark_frames.entities)
    with on(SPARK):
        got = _answer(spark_frames.settings, spark_frames.entities)
    assert set(got.columns) == set(want.columns)  # Feast's Spark join may order them apart
    pd.testing.assert_frame_equal(got[want.columns], want)
    stamps = [c for c in got.columns if isinstance(got[c].dtype, pd.DatetimeTZDtype)]
    assert stamps and all(str(got[c].dt.tz) == "UTC" for c in stamps)


def test_the_leakage_guard_checks_the_spark_frame(spark_frames) -> None:
    settings, frame = spark_frames.settings, spark_frames.spark
    with on(SPARK):
        store = tiers.open_store(settings.feature_repo)
        service = get_service(store, settings.service)
        leakage.check_frame(store, service, frame, settings.task.label)
        table = next(t for t in leakage.view_tables(store, service) if _numeric(frame, t))
        name = _numeric(frame, table)
        leaky = frame.copy()
        row = leaky.index[leaky[name].notna()][0]
        leaky.loc[row, name] = leaky.loc[row, name] + 0.5
        with pytest.raises(LeakageError, match=rf"\['{name}'\]"):
            leakage.check_frame(store, service, leaky, settings.task.label)


def _numeric(frame: pd.DataFrame, table) -> str | None:
    found = [f for f in table.features if pd.api.types.is_float_dtype(frame[f])]
    return next((f for f in found if frame[f].notna().any()), None)


# -- Spark: what the translation refuses (no session needed) ----------------------------------


def _config(repo: Path) -> Any:
    from feast.repo_config import RepoConfig

    config = RepoConfig(
        project="p",
        provider="local",
        registry=str(repo / "registry.db"),
        offline_store={"type": "stores.spark.FileSparkOfflineStore"},
        entity_key_serialization_version=3,
    )
    config.repo_path = repo
    return config


def _table(path: Path, unit: str = "us") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = pa.array([datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp(unit, tz="UTC"))
    pq.write_table(pa.table({"k": ["a"], "event_timestamp": stamps}), path)


def test_a_relative_parquet_path_is_read_from_the_repo(tmp_path: Path) -> None:
    from feast import FileSource

    from stores.spark import spark_source

    _table(tmp_path / "data" / "t.parquet")
    source = FileSource(
        name="t",
        path="data/t.parquet",
        timestamp_field="event_timestamp",
        field_mapping={"k": "key"},
    )
    translated = spark_source(source, _config(tmp_path))
    assert translated.path == str(tmp_path / "data" / "t.parquet")
    assert translated.file_format == "parquet"
    assert translated.timestamp_field == "event_timestamp"
    assert translated.field_mapping == {"k": "key"}


def test_nanosecond_timestamps_are_refused_naming_the_file_and_column(tmp_path: Path) -> None:
    from feast import FileSource

    from stores.errors import StoreError
    from stores.spark import spark_source

    _table(tmp_path / "t.parquet", unit="ns")
    source = FileSource(
        name="t", path=str(tmp_path / "t.parquet"), timestamp_field="event_timestamp"
    )
    with pytest.raises(StoreError, match=r"t\.parquet holds nanosecond timestamps in \['event_"):
        spark_source(source, _config(tmp_path))


def test_a_missing_table_says_which_and_how_to_build_it(tmp_path: Path) -> None:
    from feast import FileSource

    from stores.errors import StoreError
    from stores.spark import spark_source

    source = FileSource(name="gone", path="nowhere.parquet", timestamp_field="event_timestamp")
    with pytest.raises(StoreError, match=r"no offline table .*nowhere\.parquet.*transform"):
        spark_source(source, _config(tmp_path))


def test_naive_answers_are_read_as_utc_microseconds() -> None:
    from stores.spark import UTC_MICROS, utc_micros

    naive = pa.table({"t": pa.array([datetime(2024, 1, 1, 5)], pa.timestamp("ns"))})
    fixed = utc_micros(naive)
    assert fixed.schema.field("t").type == UTC_MICROS
    assert fixed["t"][0].as_py() == datetime(2024, 1, 1, 5, tzinfo=UTC)


# -- Ray ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_stops() -> Iterator[None]:
    """The local Ray the tier starts, shut down when the module's tests end."""
    yield
    import ray

    ray.shutdown()


@dataclass(frozen=True)
class RayTiered:
    embedded: PipelineSettings  # the original, materialized by the embedded engine
    platform: PipelineSettings  # its copy, materialized through Ray
    entities: int  # entity keys the parity check compared


@pytest.fixture(scope="module", params=["flights", "storms"])
def ray_tiered(request, platforms, tmp_path_factory, ray_stops) -> RayTiered:
    with embedded():
        original = platforms(request.param)
    settings = on_tier(original, tmp_path_factory.mktemp(f"ray-{request.param}"))
    with on(RAY):
        stages.apply(settings)
        done = stages.materialize_and_check(settings)  # raises if online != offline
    return RayTiered(original, settings, done.entities)


def test_ray_materialization_passes_the_pipelines_parity_check(ray_tiered) -> None:
    import ray

    assert ray_tiered.entities > 0
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2  # the tier's Ray


def _online(store, views: list, rows: list[dict]) -> dict[str, list]:
    refs = [f"{v.name}:{f.name}" for v in views for f in v.features]
    answer = store.get_online_features(features=refs, entity_rows=rows, full_feature_names=True)
    return answer.to_dict(include_event_timestamps=True)


def test_ray_fills_the_online_values_the_embedded_engine_fills(ray_tiered) -> None:
    with on(RAY):
        ours = tiers.open_store(ray_tiered.platform.feature_repo)
    with embedded():
        theirs = tiers.open_store(ray_tiered.embedded.feature_repo)
    compared = 0
    for keys, views in parity.keyed_alike(ours).items():
        rows = parity.entity_keys(views, keys, None, 0).to_dicts()  # every entity
        got, want = _online(ours, views, rows), _online(theirs, views, rows)
        assert got.keys() == want.keys()
        for name in want:
            assert got[name] == want[name], f"{keys} {name}"
        compared += len(rows)
    assert compared > 0


def test_ray_starts_at_the_first_materialization_and_again_after_a_shutdown(ray_tiered):
    """Feast's engine starts Ray when it is built (`feast apply` builds it), and after a
    shutdown would leave Ray Data to start a default cluster (every CPU, a large store)."""
    import ray

    from stores.feast_private import provider
    from stores.ray import RayBulkComputeEngine

    if ray_tiered.platform.feature_repo.name != "feature_repo":
        pytest.skip("one domain is enough: starting Ray is the engine's, not the data's")
    ray.shutdown()
    with on(RAY):
        store = tiers.open_store(ray_tiered.platform.feature_repo)
        assert isinstance(provider(store).batch_engine, RayBulkComputeEngine)
        assert not ray.is_initialized()
        stages.materialize_and_check(ray_tiered.platform, store=store)
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2


def test_a_write_that_fails_in_a_ray_worker_fails_the_run_naming_the_view(
    ray_tiered, tmp_path: Path
) -> None:
    """Feast's Ray engine logs a failed online write and reports the view materialized."""
    from stores.errors import StoreError

    if ray_tiered.platform.feature_repo.name != "feature_repo":
        pytest.skip("one domain is enough: the failure is the engine's, not the data's")
    broken = on_tier(ray_tiered.embedded, tmp_path)
    with on(RAY):
        stages.apply(broken)
        (broken.data_dir / "online" / "online.db").write_bytes(b"not a database" * 100)
        with pytest.raises(StoreError, match=r"'\w+' through Ray failed: DatabaseError: file is"):
            stages.materialize_and_check(broken)
