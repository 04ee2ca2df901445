"""The flights contract on the nights the clocks change (2013-03-10 and 2013-11-03 in the US):
delays are minutes between UTC instants, so a flight whose recorded delays equal its actual
minus scheduled instants is never quarantined, however the clocks at its origin and destination
moved in between; a wrong delay still is. Flights are made from instants (the reference) and
written as the data records them: local `hhmm` readings at the origin and the destination."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from larder import UTC_US
from larder.domain import load
from pipelines.checks import validate_frame
from tests.conftest import FLIGHTS as REPO

FLIGHTS = load(REPO).sources["flights"]
NEW_YORK = "America/New_York"
ORIGINS = ("EWR", "JFK", "LGA")
DESTINATIONS = {
    "BOS": NEW_YORK,
    "PBI": NEW_YORK,
    "ORD": "America/Chicago",
    "DEN": "America/Denver",
    "PHX": "America/Phoenix",  # no daylight saving
    "LAX": "America/Los_Angeles",
    "ANC": "America/Anchorage",
    "HNL": "Pacific/Honolulu",  # no daylight saving
    "SJU": "America/Puerto_Rico",  # not in the airports table: the domain's own zone
}
AIRPORTS = pl.DataFrame(
    {
        "faa": [*ORIGINS, *(d for d in DESTINATIONS if d != "SJU")],
        "tzone": [NEW_YORK] * 3 + [z for d, z in DESTINATIONS.items() if d != "SJU"],
    }
)
TABLES = {"airports": AIRPORTS, "airlines": pl.DataFrame({"carrier": ["UA", "B6"]})}
NIGHTS = (date(2013, 3, 10), date(2013, 11, 3))  # spring forward, fall back
DEPARTURE_RULE = "dep_delay = dep_time - sched_dep_time (time zones applied)"
ARRIVAL_RULE = "arr_delay = arr_time - sched_arr_time (time zones applied)"


def _change(night: date, zone: str) -> datetime:
    """The instant the clocks change in `zone` that night (2 a.m. local)."""
    one = datetime(night.year, night.month, night.day, 1, tzinfo=ZoneInfo(zone))
    return one.astimezone(UTC) + timedelta(hours=1)


def _hhmm(at: datetime, zone: str, midnight: int = 2400) -> int:
    local = at.astimezone(ZoneInfo(zone))
    return local.hour * 100 + local.minute or midnight


def _near_change(at: datetime, zone: str) -> bool:
    """Whether the clocks in `zone` change within two hours of `at`: there, an hour off can
    read the same (a local time that happens twice, or the old clock's time kept)."""
    offsets = {
        (at + timedelta(minutes=m)).astimezone(ZoneInfo(zone)).utcoffset() for m in (-121, 121)
    }
    return len(offsets) > 1


@dataclass(frozen=True)
class Flight:
    """A flight as instants: the reference its recorded columns are written from."""

    origin: str
    dest: str
    scheduled: datetime  # departure
    departed: datetime
    due: datetime  # scheduled arrival
    arrived: datetime
    air_time: int

    def row(self, number: int) -> dict:
        local = self.scheduled.astimezone(ZoneInfo(NEW_YORK))
        zone = DESTINATIONS[self.dest]
        return {
            "year": local.year,
            "month": local.month,
            "day": local.day,
            "dep_time": _hhmm(self.departed, NEW_YORK),
            "sched_dep_time": local.hour * 100 + local.minute,
            "dep_delay": _minutes(self.departed - self.scheduled),
            "arr_time": _hhmm(self.arrived, zone),
            "sched_arr_time": _hhmm(self.due, zone, midnight=0),
            "arr_delay": _minutes(self.arrived - self.due),
            "carrier": "UA",
            "flight": number,
            "tailnum": "N14228",
            "origin": self.origin,
            "dest": self.dest,
            "air_time": self.air_time,
            "distance": 1000,
            "hour": local.hour,
            "minute": local.minute,
            "time_hour": self.scheduled - timedelta(minutes=local.minute),
        }


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


@st.composite
def flights(draw: st.DrawFn) -> Flight:
    """A flight leaving New York within hours of a night the clocks change, at its origin or
    its destination, with its delays, air time and taxiing (at most 300 minutes)."""
    night, dest = draw(st.sampled_from(NIGHTS)), draw(st.sampled_from(sorted(DESTINATIONS)))
    change = _change(night, draw(st.sampled_from([NEW_YORK, DESTINATIONS[dest]])))
    scheduled = change + timedelta(minutes=draw(st.integers(-16 * 60, 4 * 60)))
    departed = scheduled + timedelta(minutes=draw(st.integers(-30, 600)))
    air_time = draw(st.integers(20, 660))
    arrived = departed + timedelta(minutes=air_time + draw(st.integers(1, 300)))
    due = scheduled + timedelta(minutes=air_time + draw(st.integers(5, 60)))
    return Flight(draw(st.sampled_from(ORIGINS)), dest, scheduled, departed, due, arrived, air_time)


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FLIGHTS.schema)


def _reasons(frame: pl.DataFrame) -> list[tuple[int, str, str]]:
    result = validate_frame(frame, FLIGHTS, TABLES)
    return list(result.quarantined.select("flight", "rule", "value").iter_rows())


@settings(max_examples=60, deadline=None)
@given(st.lists(flights(), min_size=1, max_size=25))
def test_flights_whose_delays_are_instants_apart_are_never_quarantined(made: list) -> None:
    frame = _frame([f.row(n) for n, f in enumerate(made, 1)])
    result = validate_frame(frame, FLIGHTS, TABLES)
    assert result.quarantined.is_empty(), result.quarantined.select("flight", "rule", "value")
    assert result.warnings.is_empty()  # none taxied over 300 minutes
    assert result.valid.height == frame.height


@settings(max_examples=60, deadline=None)
@given(flights(), st.integers(-120, 120).filter(bool))
def test_a_wrong_departure_delay_is_quarantined(flight: Flight, off: int) -> None:
    row = flight.row(1)
    assume(-120 <= row["dep_delay"] + off <= 2000)
    if abs(off) == 60:
        assume(not _near_change(flight.departed, NEW_YORK))
    reasons = _reasons(_frame([{**row, "dep_delay": row["dep_delay"] + off}]))
    assert DEPARTURE_RULE in {rule for _, rule, _ in reasons}


@settings(max_examples=60, deadline=None)
@given(flights(), st.integers(-120, 120).filter(bool))
def test_a_wrong_arrival_delay_is_quarantined(flight: Flight, off: int) -> None:
    row = flight.row(1)
    assume(-120 <= row["arr_delay"] + off <= 2000)
    zone = DESTINATIONS[flight.dest]
    if abs(off) == 60:
        assume(not _near_change(flight.due, zone) and not _near_change(flight.arrived, zone))
    reasons = _reasons(_frame([{**row, "arr_delay": row["arr_delay"] + off}]))
    assert ARRIVAL_RULE in {rule for _, rule, _ in reasons}


def test_a_flight_across_each_change_is_kept_where_local_clocks_were_an_hour_off() -> None:
    """The cases the clock arithmetic got wrong: an hour of delay over the change at the origin
    reads two hours (spring) or none (fall), and the same at the destination."""
    made = []
    for night in NIGHTS:
        change = _change(night, NEW_YORK)
        scheduled = change - timedelta(minutes=30)
        departed = scheduled + timedelta(minutes=60)  # leaves 30 minutes after the change
        due, arrived = scheduled + timedelta(minutes=90), departed + timedelta(minutes=60)
        made.append(Flight("JFK", "BOS", scheduled, departed, due, arrived, 40))
    rows = [f.row(n) for n, f in enumerate(made, 1)]
    assert [(r["sched_dep_time"], r["dep_time"], r["dep_delay"]) for r in rows] == [
        (130, 330, 60),  # 1:30 EST to 3:30 EDT
        (130, 130, 60),  # 1:30 EDT to 1:30 EST
    ]
    result = validate_frame(_frame(rows), FLIGHTS, TABLES)
    assert result.quarantined.is_empty() and result.valid.height == 2


def test_a_real_flight_landing_on_the_old_clock_the_night_it_skips_an_hour_is_kept() -> None:
    """B6 35, JFK to PBI on 2013-03-09 (the package's data): due at 00:34 and 89 minutes
    late, it landed at 03:03 on the clock turned forward; the record keeps the old clock's
    02:03, a time that night skips."""
    line = "2013,3,9,2306,2145,81,203,34,89,B6,35,N658JB,JFK,PBI,141,1028,21,45,2013-03-10T02:00Z"
    read: dict[pl.DataType, Callable[[str], object]] = {
        pl.Int64(): int,
        pl.String(): str,
        UTC_US: datetime.fromisoformat,
    }
    cells = zip(FLIGHTS.schema.items(), line.split(","), strict=True)
    row = {name: read[dtype](cell) for (name, dtype), cell in cells}
    result = validate_frame(_frame([row]), FLIGHTS, TABLES)
    assert result.quarantined.is_empty() and result.valid.height == 1
