"""Declared windowed features against the brute-force reference (plain loops) on random event
streams: ties, events exactly on a window's edge, empty windows, single events, local midnight
(across a daylight-saving change), and every aggregation."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import larder as decl
from larder import UTC_US
from larder.domain import load
from pipelines.windows import compute
from tests.conftest import FLIGHTS, STORMS
from tests.pipelines.window_reference import prepare, reference

T0 = datetime(2013, 3, 9, 3, tzinfo=UTC)  # New York springs forward on 2013-03-10
EDGE_NUDGES = (timedelta(0), timedelta(microseconds=-1), timedelta(microseconds=1))

VIEW = decl.WindowedView(
    name="test_view",
    entities=("k",),
    source="events",
    timestamp="at",
    where="v IS NULL OR v > -20",
    windows=("1h", "3h", "today"),
    aggregations=(
        decl.count("n"),
        decl.total("total", "v"),
        decl.mean("mean", "v"),
        decl.minimum("min", "v"),
        decl.maximum("max", "v"),
        decl.last("last", "v"),
        decl.last("last_flag", "flag"),
        decl.share("share", "v > 10"),
        decl.distinct("distinct", "v"),
    ),
    description="test",
    day_zone="America/New_York",
)

event = st.tuples(
    st.sampled_from(["a", "b"]),
    st.integers(0, 3 * 24 * 60),  # minutes after T0: three local days
    st.one_of(st.none(), st.integers(-30, 60)),
    st.booleans(),
)


def _frame(events) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "k": [k for k, *_ in events],
            "at": [T0 + timedelta(minutes=m) for _, m, *_ in events],
            "v": [v for _, _, v, _ in events],
            "flag": [f for *_, f in events],
        },
        schema={"k": pl.String, "at": UTC_US, "v": pl.Int64, "flag": pl.Boolean},
    )


def _latest(table: pl.DataFrame, key: str, t: datetime) -> dict | None:
    rows = table.filter((pl.col("k") == key) & (pl.col("event_timestamp") <= t))
    return rows.row(-1, named=True) if rows.height else None


def _probes(events, extra: list[int]) -> list[datetime]:
    """Every event, every window edge and local midnight after one, each nudged by 1 µs."""
    times = [T0 + timedelta(minutes=m) for _, m, *_ in events] + [
        T0 + timedelta(minutes=m) for m in extra
    ]
    edges = [t + w for t in times for w in (timedelta(hours=1), timedelta(hours=3))]
    midnights = [datetime(2013, 3, d, h, tzinfo=UTC) for d in (10, 11, 12, 13) for h in (4, 5)]
    return [t + nudge for t in [*times, *edges, *midnights] for nudge in EDGE_NUDGES]


def _empty(values: dict) -> dict:
    return {
        name: 0 if name.split("_")[0] in ("n", "total", "distinct") else None for name in values
    }


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(event, min_size=1, max_size=25),
    extra=st.lists(st.integers(-60, 5000), max_size=5),
)
def test_every_aggregation_equals_brute_force_at_any_time(events, extra) -> None:
    frame = _frame(events)
    table = compute(frame.lazy(), VIEW).collect()
    rows = prepare(frame, VIEW)
    for t in _probes(events, extra):
        for key in ("a", "b"):
            want = reference(rows, VIEW, (key,), t)
            row = _latest(table, key, t)
            got = {n: row[n] for n in want} if row else _empty(want)
            assert got == want, (key, t)


def test_the_table_has_one_row_per_key_and_moment_with_declared_types() -> None:
    frame = _frame([("a", 0, 5, True), ("a", 0, 7, False), ("a", 60, None, False)])
    table = compute(frame.lazy(), VIEW).collect()
    assert table.select("k", "event_timestamp").is_duplicated().sum() == 0
    assert table.columns[2:] == [name for name, _ in VIEW.features()]
    assert table.schema["n_1h"] == pl.Int64 and table.schema["mean_3h"] == pl.Float64
    # the two tied events at T0: last takes the larger value, last_flag True (as 1)
    first = table.row(0, named=True)
    assert (first["n_1h"], first["last_1h"], first["last_flag_1h"]) == (2, 7, 1)


def test_today_restarts_at_new_york_midnight() -> None:
    late_evening = datetime(2013, 3, 10, 3, 30, tzinfo=UTC)  # 22:30 on the 9th in New York
    frame = _frame([("a", int((late_evening - T0).total_seconds() // 60), 4, True)])
    table = compute(frame.lazy(), VIEW).collect()
    midnight = datetime(2013, 3, 10, 5, tzinfo=UTC)  # 00:00 EST on the 10th
    assert _latest(table, "a", midnight - timedelta(microseconds=1))["n_today"] == 1
    assert _latest(table, "a", midnight)["n_today"] == 0


def test_sums_of_non_integers_are_refused() -> None:
    frame = _frame([("a", 0, 1, True)]).with_columns(pl.col("v").cast(pl.Float64))
    with pytest.raises(ValueError, match="exact on integers"):
        compute(frame.lazy(), VIEW)


@pytest.mark.parametrize("repo", [FLIGHTS, STORMS], ids=["flights", "storms"])
def test_every_declared_feature_name_is_unique_across_views(repo) -> None:
    names = [n for v in load(repo).views.values() for n, _ in v.features()]
    assert len(names) == len(set(names))


def test_window_lengths_are_parsed_or_refused() -> None:
    assert decl.window_length("90m") == timedelta(minutes=90)
    assert decl.window_length("30d") == timedelta(days=30)
    with pytest.raises(ValueError, match="90m, 3h or 7d"):
        decl.window_length("1 week")
