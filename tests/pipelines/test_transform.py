"""Transforms: outcomes and their times on hand-made flights; windowed aggregates against a
brute-force reference on random event streams (ties, window edges, empty windows)."""

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.ingest import read_source
from pipelines.tables import AIRPORTS, FLIGHTS, UTC_US, package_data_dir
from pipelines.transform import aircraft_history, flight_outcomes, window_aggregates
from tests.conftest import FIXTURE

T0 = datetime(2013, 3, 1, tzinfo=UTC)
WINDOWS = {"1h": timedelta(hours=1), "3h": timedelta(hours=3)}


def _flight(**overrides) -> dict:
    row = dict(
        year=2013,
        month=1,
        day=1,
        dep_time=517,
        sched_dep_time=515,
        dep_delay=2,
        arr_time=830,
        sched_arr_time=819,
        arr_delay=11,
        carrier="UA",
        flight=1545,
        tailnum="N14228",
        origin="EWR",
        dest="IAH",
        air_time=227,
        distance=1400,
        hour=5,
        minute=15,
        time_hour=datetime(2013, 1, 1, 10, tzinfo=UTC),
    )
    return {**row, **overrides}


def _outcomes(*rows: dict) -> pl.DataFrame:
    flights = pl.DataFrame(list(rows), schema=FLIGHTS.schema)
    airports = read_source(AIRPORTS, package_data_dir() / AIRPORTS.file)
    return flight_outcomes(flights.lazy(), airports).collect()


def test_a_landed_flight_is_known_at_its_scheduled_arrival_plus_delay() -> None:
    out = _outcomes(_flight()).row(0, named=True)
    # IAH is on Chicago time (UTC-6 in January): 08:19 local = 14:19 UTC, +11 min
    assert out["known_at"] == datetime(2013, 1, 1, 14, 30, tzinfo=UTC)
    assert out["scheduled_departure"] == datetime(2013, 1, 1, 10, 15, tzinfo=UTC)
    assert out["prediction_time"] == datetime(2013, 1, 1, 8, 15, tzinfo=UTC)
    assert out["late"] is False


def test_cancelled_is_late_and_known_at_scheduled_departure() -> None:
    row = _flight(dep_time=None, dep_delay=None, arr_time=None, arr_delay=None, air_time=None)
    out = _outcomes(row).row(0, named=True)
    assert out["late"] and out["cancelled"]
    assert out["known_at"] == out["scheduled_departure"]


def test_diverted_is_late_and_known_15_minutes_after_scheduled_arrival() -> None:
    out = _outcomes(_flight(arr_time=None, arr_delay=None, air_time=None)).row(0, named=True)
    assert out["late"] and out["diverted"]
    assert out["known_at"] == datetime(2013, 1, 1, 14, 34, tzinfo=UTC)


def test_an_overnight_arrival_lands_the_next_day() -> None:
    row = _flight(
        sched_dep_time=2359,
        hour=23,
        minute=59,
        sched_arr_time=300,
        arr_delay=-5,
        dest="SJU",
        time_hour=datetime(2013, 1, 2, 4, tzinfo=UTC),
    )
    out = _outcomes(row).row(0, named=True)
    # SJU has no entry in the airports table: Puerto Rico time, UTC-4 all year
    assert out["known_at"] == datetime(2013, 1, 2, 6, 55, tzinfo=UTC)


def _brute(events: list[tuple[str, int, int]], key: str, t: datetime, width: timedelta):
    inside = [v for k, m, v in events if k == key and t - width < T0 + timedelta(minutes=m) <= t]
    return len(inside), sum(inside)


def _latest(frame: pl.DataFrame, key: str, t: datetime) -> dict | None:
    rows = frame.filter((pl.col("k") == key) & (pl.col("event_timestamp") <= t))
    return rows.row(-1, named=True) if rows.height else None


events_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 600), st.integers(-30, 300)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(events=events_strategy, probes=st.lists(st.integers(-10, 900), max_size=10))
def test_windows_equal_brute_force_at_any_time(events, probes) -> None:
    frame = pl.DataFrame(
        {
            "k": [k for k, _, _ in events],
            "known_at": [T0 + timedelta(minutes=m) for _, m, _ in events],
            "v": [v for _, _, v in events],
        },
        schema={"k": pl.String, "known_at": UTC_US, "v": pl.Int64},
    )
    out = window_aggregates(frame.lazy(), "k", WINDOWS, {"v": pl.col("v")}).collect()
    edges = [
        m + int(w.total_seconds() // 60) + d
        for _, m, _ in events
        for w in WINDOWS.values()
        for d in (-1, 0, 1)
    ]
    for minute in [*probes, *edges, *(m for _, m, _ in events)]:
        t = T0 + timedelta(minutes=minute)
        for key in ("a", "b"):
            row = _latest(out, key, t)
            for name, width in WINDOWS.items():
                n, total = _brute(events, key, t, width)
                got = (row[f"n_{name}"], row[f"v_{name}"]) if row else (0, 0)
                assert got == (n, total), (key, t, name)


def test_aircraft_history_decays_to_empty_windows() -> None:
    flights = read_source(FLIGHTS, FIXTURE / FLIGHTS.file)
    airports = read_source(AIRPORTS, FIXTURE / AIRPORTS.file)
    history = aircraft_history(flight_outcomes(flights.lazy(), airports)).collect()
    last = history.group_by("tailnum").agg(pl.all().sort_by("event_timestamp").last())
    assert (last["flights_7d"] == 0).all() and (last["flights_24h"] == 0).all()
    assert last["mean_arr_delay_7d"].is_null().all()
    assert history.schema["event_timestamp"] == UTC_US
