"""The as-of offline store answers exactly what stock Feast's point-in-time join answers: on the
fixture flights (with the on-demand view, plain and full feature names) and on generated data
built to hit the edges (equal timestamps, created-timestamp tie-breaks, ttl bounds to the
microsecond, entity rows before any data, missing entities, nulls and NaN, duplicate entity
rows); and both agree with a brute-force re-expression of Feast's own reference."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pipelines.settings import PipelineSettings
from tests.stores.pit_reference import reference, same
from tests.stores.store_twins import FAST, STOCK, feature_store, repo_objects
from training.contract import service_inputs

BASE = datetime(2024, 3, 1, 0, 0, 0, 250_000, tzinfo=UTC)
TTL_A = timedelta(hours=1)


# -- flights ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain_stores(domain_platform: PipelineSettings, tmp_path_factory):
    objects = repo_objects(domain_platform.feature_repo)
    base = tmp_path_factory.mktemp("domain_twins")
    stores = (
        feature_store(base / "stock", STOCK, objects),
        feature_store(base / "fast", FAST, objects),
    )
    return domain_platform, stores


def _entities(platform: PipelineSettings, store) -> pd.DataFrame:
    """The task's examples as entity rows, what training sends to Feast."""
    from training.examples import entity_columns
    from training.frames import entities_for, get_service, load_examples
    from training.settings import TrainingSettings

    settings = TrainingSettings(feature_repo=platform.feature_repo)
    service = get_service(store, settings.service)
    keys, requested = service_inputs(store, service)
    frame = entities_for(store, service, load_examples(settings), settings.task)
    return frame[entity_columns(keys, requested)]


@pytest.mark.parametrize("full_names", [False, True])
def test_domain_frames_equal_stock_feast(domain_stores, full_names) -> None:
    platform, (stock, fast) = domain_stores
    entities = _entities(platform, stock)
    service = stock.get_feature_service(platform.domain.task.feature_service)
    want = stock.get_historical_features(
        entity_df=entities.copy(), features=service, full_feature_names=full_names
    ).to_df()
    got = fast.get_historical_features(
        entity_df=entities.copy(), features=service, full_feature_names=full_names
    ).to_df()
    assert got["row_id"].tolist() == entities["row_id"].tolist()  # entity order is kept
    want = want.sort_values("row_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    first = service.feature_view_projections[0]
    name = f"{first.name}__{first.features[0].name}" if full_names else first.features[0].name
    assert got[name].notna().any()


# -- generated data --------------------------------------------------------------------------


def _objects(folder):
    from feast import Entity, FeatureView, Field, FileSource
    from feast.types import Bool, Float64, Int64, String
    from feast.value_type import ValueType

    a = Entity(name="a", join_keys=["a_id"], value_type=ValueType.INT64)
    b = Entity(name="b", join_keys=["b_id"], value_type=ValueType.STRING)
    view_a = FeatureView(
        name="view_a",
        entities=[a],
        ttl=TTL_A,
        schema=[
            Field(name="x", dtype=Int64),
            Field(name="y", dtype=Float64),
            Field(name="s", dtype=String),
        ],
        source=FileSource(
            name="src_a", path=str(folder / "a.parquet"), timestamp_field="ts",
            created_timestamp_column="created",
        ),
    )  # fmt: skip
    view_b = FeatureView(
        name="view_b",
        entities=[b],
        ttl=timedelta(0),  # no ttl: any older row counts
        schema=[Field(name="z", dtype=Float64), Field(name="flag", dtype=Bool)],
        source=FileSource(name="src_b", path=str(folder / "b.parquet"), timestamp_field="ts"),
    )
    return [a, b, view_a.batch_source, view_b.batch_source, view_a, view_b]


@pytest.fixture(scope="module")
def generated_stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    objects = _objects(folder)
    return (
        folder,
        feature_store(folder / "stock", STOCK, objects),
        feature_store(folder / "fast", FAST, objects),
    )


def _view_a(rng) -> pd.DataFrame:
    """Keys 0..7 on a 15-minute grid, so timestamps repeat; each repeat has its own created
    time (at most one of them null), so the created tie-break always decides."""
    rows = []
    for key in range(8):
        for slot in rng.choice(16, size=10):
            rows.append((key, BASE + slot * timedelta(minutes=15)))
    frame = pd.DataFrame(rows, columns=["a_id", "ts"]).astype({"a_id": "int64"})
    rank = frame.groupby(["a_id", "ts"]).cumcount()
    frame["created"] = frame["ts"] + pd.to_timedelta(rank, unit="s")
    frame.loc[(rank == 0) & (rng.random(len(frame)) < 0.3), "created"] = pd.NaT
    frame["x"] = pd.array(rng.integers(-5, 100, len(frame)), dtype="Int64")
    frame.loc[rng.random(len(frame)) < 0.1, "x"] = pd.NA
    frame["y"] = rng.normal(size=len(frame))
    frame.loc[rng.random(len(frame)) < 0.1, "y"] = np.nan
    frame["s"] = [f"s{v}" if v % 7 else None for v in rng.integers(0, 50, len(frame))]
    return frame


def _view_b(rng) -> pd.DataFrame:
    rows = [
        (
            f"k{key}",
            BASE + int(slot) * timedelta(minutes=15),
            rng.normal(),
            bool(rng.random() < 0.5),
        )
        for key in range(6)
        for slot in rng.choice(20, size=6, replace=False)
    ]
    return pd.DataFrame(rows, columns=["b_id", "ts", "z", "flag"])


def _entity_rows(rng, a: pd.DataFrame) -> pd.DataFrame:
    """Random times, plus times exactly at a feature row, at its ttl bound and 1 us past it;
    keys 8, 9 and k6, k7 have no feature rows; the first rows repeat."""
    picked = a.sample(12, random_state=int(rng.integers(1 << 30)))
    times = (
        [BASE + timedelta(minutes=int(m)) for m in rng.integers(-30, 300, 30)]
        + list(picked["ts"])
        + list(picked["ts"] + TTL_A)
        + list(picked["ts"] + TTL_A + timedelta(microseconds=1))
    )
    keys = list(rng.integers(0, 10, 30)) + list(picked["a_id"]) * 3
    n = len(times)
    frame = pd.DataFrame(
        {
            "a_id": np.array(keys, dtype="int64"),
            "b_id": [f"k{k}" for k in rng.integers(0, 8, n)],
            "event_timestamp": pd.to_datetime(times, utc=True),
            "note": [f"row {i}" for i in range(n)],
        }
    )
    frame = pd.concat([frame, frame.head(3)], ignore_index=True)  # duplicate entity rows
    return frame.assign(row=np.arange(len(frame), dtype="int64"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_frames_equal_stock_feast_and_thereference(generated_stores, seed) -> None:
    folder, stock, fast = generated_stores
    rng = np.random.default_rng(seed)
    a, b = _view_a(rng), _view_b(rng)
    a.to_parquet(folder / "a.parquet")
    b.to_parquet(folder / "b.parquet")
    entities = _entity_rows(rng, a)
    refs = ["view_a:x", "view_a:y", "view_a:s", "view_b:z", "view_b:flag"]

    want = stock.get_historical_features(entity_df=entities.copy(), features=refs).to_df()
    got = fast.get_historical_features(entity_df=entities.copy(), features=refs).to_df()
    pd.testing.assert_frame_equal(got, want.sort_values("row").reset_index(drop=True))

    for _, row in got.iterrows():
        match_a = reference(entities.loc[row["row"]], a, "a_id", TTL_A, "created")
        match_b = reference(entities.loc[row["row"]], b, "b_id", None, None)
        for name, match in [
            ("x", match_a),
            ("y", match_a),
            ("s", match_a),
            ("z", match_b),
            ("flag", match_b),
        ]:
            assert same(row[name], None if match is None else match[name]), (
                seed,
                row["row"],
                name,
            )


def test_full_feature_names_and_created_filter_match_stock(generated_stores) -> None:
    folder, stock, fast = generated_stores
    rng = np.random.default_rng(7)
    a = _view_a(rng)
    a.to_parquet(folder / "a.parquet")
    _view_b(rng).to_parquet(folder / "b.parquet")
    entities = _entity_rows(rng, a)
    for options in ({"full_feature_names": True}, {"filter_by_created_timestamp": True}):
        want = stock.get_historical_features(
            entity_df=entities.copy(), features=["view_a:x", "view_b:z"], **options
        )
        got = fast.get_historical_features(
            entity_df=entities.copy(), features=["view_a:x", "view_b:z"], **options
        )
        pd.testing.assert_frame_equal(
            got.to_df().sort_values("row").reset_index(drop=True),
            want.to_df().sort_values("row").reset_index(drop=True),
        )


def test_a_partial_join_key_map_keeps_the_other_keys(tmp_path) -> None:
    """Feast maps each entity column through the projection's join_key_map, keeping the name of
    one the map leaves out."""
    from feast import Entity, FeatureView, Field, FileSource
    from feast.types import Float64, Int64, String
    from feast.value_type import ValueType

    from stores.asof import view_join

    view = FeatureView(
        name="pairs",
        entities=[
            Entity(name="a", join_keys=["a_id"], value_type=ValueType.INT64),
            Entity(name="b", join_keys=["b_id"], value_type=ValueType.STRING),
        ],
        schema=[
            Field(name="a_id", dtype=Int64),
            Field(name="b_id", dtype=String),
            Field(name="z", dtype=Float64),
        ],
        source=FileSource(path=str(tmp_path / "pairs.parquet"), timestamp_field="ts"),
    )
    join = view_join(view.with_join_key_map({"a_id": "origin_a"}), ["pairs:z"], False)
    assert sorted(join.keys) == [("a_id", "origin_a"), ("b_id", "b_id")]


def test_an_on_demand_view_is_given_only_its_declared_inputs(tmp_path) -> None:
    """The offline store hands an on-demand view its source views' features and its request
    fields, as the online server does, never the rest of the frame."""
    import pyarrow as pa
    from feast import Entity, FeatureView, Field, FileSource, RequestSource
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Float64, Int64
    from feast.value_type import ValueType

    from stores.offline import DeclaredInputs

    view = FeatureView(
        name="legs",
        entities=[Entity(name="plane", join_keys=["plane_id"], value_type=ValueType.INT64)],
        schema=[Field(name="delay", dtype=Float64), Field(name="other", dtype=Float64)],
        source=FileSource(path=str(tmp_path / "legs.parquet"), timestamp_field="ts"),
    )
    request = RequestSource(name="ask", schema=[Field(name="distance", dtype=Int64)])
    seen: list[list[str]] = []

    @on_demand_feature_view(
        sources=[view[["delay"]], request],
        schema=[Field(name="seen", dtype=Int64)],
        mode="python",
    )
    def given(inputs: dict) -> dict:
        seen.append(sorted(inputs))
        return {"seen": [len(inputs)] * len(inputs["delay"])}

    table = pa.table(
        {"row_id": [1, 2], "plane_id": [7, 8], "delay": [1.0, 2.0], "other": [3.0, 4.0],
         "distance": [100, 200], "unrelated": ["a", "b"]}
    )  # fmt: skip
    out = DeclaredInputs(given).transform_arrow(table)
    # Feast adds the view-prefixed name of a source feature itself
    assert seen == [["delay", "distance", "legs__delay"]]
    assert out["seen"].to_pylist() == [3, 3]
    assert DeclaredInputs(given).name == "given"  # everything else is the view's own
