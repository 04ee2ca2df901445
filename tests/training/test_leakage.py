"""The leakage guard, and the point-in-time rules it relies on, pinned down by hand.

Feast documents its historical retrieval as: for each entity row at time t, the latest feature
row with event_timestamp <= t, no older than the view's ttl (t - ttl <= event_timestamp, both
ends inclusive); rows tied on event_timestamp are broken by the latest created timestamp; with
`filter_by_created_timestamp=True`, rows created after t are not seen at all.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from training.contract import service_inputs
from training.errors import DataError, LeakageError
from training.examples import ROW_ID, TIMESTAMP
from training.frames import get_service, hidden_frame, hidden_reads, historical_frame, open_store
from training.leakage import check_frame, check_hidden, check_label, known_values, view_tables
from training.settings import TrainingSettings

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _tiny_store(folder: Path, rows: pd.DataFrame, created: bool):
    """A one-view Feast repo over `rows` (key k, value x), ttl 2 hours."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
    from feast.types import Float64
    from feast.value_type import ValueType

    rows.to_parquet(folder / "x.parquet")
    config = RepoConfig(
        project="tiny",
        provider="local",
        registry=str(folder / "registry.db"),
        online_store={"type": "sqlite", "path": str(folder / "online.db")},
        offline_store={"type": "duckdb"},
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config, repo_path=str(folder))
    key = Entity(name="key", join_keys=["k"], value_type=ValueType.STRING)
    source = FileSource(
        name="x_source",
        path=str(folder / "x.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created" if created else "",
    )
    view = FeatureView(
        name="x_view",
        entities=[key],
        ttl=2 * HOUR,
        schema=[Field(name="x", dtype=Float64)],
        source=source,
    )
    store.apply([key, view])
    return store


def _rows(*rows: tuple) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["k", "event_timestamp", "created", "x"])
    for col in ("event_timestamp", "created"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[us, UTC]")
    return frame


def _at(store, *times: datetime, **kwargs) -> list[float | None]:
    entities = pd.DataFrame(
        {"k": ["a"] * len(times), "event_timestamp": list(times), "n": range(len(times))}
    )
    got = store.get_historical_features(entity_df=entities, features=["x_view:x"], **kwargs).to_df()
    got = got.sort_values("n")["x"]
    return [None if pd.isna(v) else float(v) for v in got]


@pytest.fixture(scope="module")
def ttl_store(tmp_path_factory: pytest.TempPathFactory):
    rows = _rows(("a", T0, T0, 1.0), ("a", T0 + 3 * HOUR, T0 + 3 * HOUR, 2.0))
    return _tiny_store(tmp_path_factory.mktemp("ttl"), rows, created=False)


def test_feast_ttl_is_inclusive_and_later_rows_are_never_seen(ttl_store):
    before, at, edge, past, after = (
        T0 - HOUR,
        T0,
        T0 + 2 * HOUR,
        T0 + 2 * HOUR + timedelta(seconds=1),
        T0 + 3 * HOUR,
    )
    assert _at(ttl_store, before, at, edge, past, after) == [None, 1.0, 1.0, None, 2.0]


def test_the_guard_agrees_with_feast_on_ttl(ttl_store):
    import duckdb

    service_like = view_tables(ttl_store, _service_of(ttl_store))[0]
    times = [T0 - HOUR, T0, T0 + 2 * HOUR, T0 + 2 * HOUR + timedelta(seconds=1), T0 + 3 * HOUR]
    entities = pd.DataFrame({ROW_ID: range(5), TIMESTAMP: times, "k": ["a"] * 5})
    known = known_values(duckdb.connect(), service_like, entities).sort_values(ROW_ID)
    assert [None if pd.isna(v) else v for v in known["x"]] == [None, 1.0, 1.0, None, 2.0]


def _service_of(store):
    from feast import FeatureService

    return FeatureService(name="s", features=[store.get_feature_view("x_view")])


def test_feast_breaks_ties_by_created_and_can_hide_later_creations(tmp_path: Path):
    # Two rows for the same event time: the second, a correction, was created an hour later.
    rows = _rows(("a", T0, T0, 1.0), ("a", T0, T0 + HOUR, 9.0))
    store = _tiny_store(tmp_path, rows, created=True)
    assert _at(store, T0 + 30 * timedelta(minutes=1), T0 + 90 * timedelta(minutes=1)) == [9.0, 9.0]
    filtered = _at(
        store,
        T0 + 30 * timedelta(minutes=1),
        T0 + 90 * timedelta(minutes=1),
        filter_by_created_timestamp=True,
    )
    assert filtered == [1.0, 9.0]  # the correction is only seen once it exists
    with pytest.raises(DataError, match="created-timestamp"):
        view_tables(store, _service_of(store))  # the guard says it cannot check this view


def test_frames_built_through_feast_pass_the_guard(settings: TrainingSettings, frame):
    store = open_store(settings.feature_repo)
    check_frame(store, get_service(store, settings.service), frame, settings.task.label)


def test_a_frame_built_a_day_late_is_caught_naming_the_feature(
    settings: TrainingSettings, entities: pd.DataFrame
):
    # A classic leak: features looked up a day after the prediction time, labelled as if
    # known at it.
    store = open_store(settings.feature_repo)
    service = get_service(store, settings.service)
    late = entities.assign(**{TIMESTAMP: entities[TIMESTAMP] + timedelta(days=1)})
    leaky = historical_frame(store, service, late, 5000, settings.task)  # right for its times...
    leaky[TIMESTAMP] = entities[TIMESTAMP]  # ...then relabelled with the earlier ones
    with pytest.raises(LeakageError, match=r"view '\w+': feature\(s\) \[") as caught:
        check_frame(store, service, leaky, settings.task.label)
    assert "after the prediction time" in str(caught.value)


def test_one_future_value_is_enough(settings: TrainingSettings, frame: pd.DataFrame):
    store = open_store(settings.feature_repo)
    service = get_service(store, settings.service)
    table = next(t for t in view_tables(store, service) if frame[t.features[0]].notna().any())
    name = next(f for f in table.features if frame[f].notna().sum() > 10)
    leaky = frame.copy()
    row = leaky.index[leaky[name].notna()][10]
    leaky.loc[row, name] = leaky.loc[row, name] + 0.5
    with pytest.raises(LeakageError, match=rf"{table.name}.*\['{name}'\].*1 of {len(frame)}"):
        check_frame(store, service, leaky, settings.task.label)


def test_what_an_on_demand_view_reads_from_an_unlisted_view_is_checked_too(
    settings: TrainingSettings, entities: pd.DataFrame
):
    store = open_store(settings.feature_repo)
    service = get_service(store, settings.service)
    hidden = hidden_reads(store, service)
    if not hidden:
        pytest.skip(f"{settings.service}'s on-demand views read no view it does not list")
    keys, _ = service_inputs(store, service)
    read = hidden[0]
    answer = hidden_frame(store, read, entities, keys)
    check_hidden(store, read, answer)  # what Feast gave passes
    name = read.features[0].name
    row = answer.index[answer[name].notna()][5]
    answer.loc[row, name] += 7
    with pytest.raises(LeakageError, match=rf"view '{read.name}': feature\(s\) \['{name}'\]"):
        check_hidden(store, read, answer)


@pytest.mark.parametrize("names", [["temp", "late"], ["flights_7d", "aircraft_history__late"]])
def test_the_label_is_never_a_feature(names: list[str]):
    with pytest.raises(LeakageError, match="label 'late'"):
        check_label(names, "late")
    with pytest.raises(LeakageError):
        check_label(["x", "label"], "late")  # nor the frame's own name for it
