"""The propagated-delay features through Feast: `flight_delay_v3`'s on-demand outputs for every
fixture flight equal a plain-Python reference built from the flight_outcomes rows (each
aircraft's legs, their due, take-off and landing events, the latest within 24 hours before the
prediction time); and the leakage guard checks what the on-demand view reads."""

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pandas as pd
import polars as pl
import pytest

from tests.feature_repo.service_frames import built_platform, plain, service_frame
from training.contract import service_inputs
from training.errors import LeakageError
from training.examples import TIMESTAMP, read_examples
from training.frames import (
    entities_for,
    get_service,
    hidden_frame,
    hidden_reads,
    historical_frame,
    open_store,
)
from training.leakage import check_hidden

WINDOW = timedelta(hours=24)
TURNAROUNDS = 2 * 30  # minutes on the ground: at the far end, and back in New York
LATE_MINUTES = 15
DUE, IN_THE_AIR, LANDED = 0, 1, 2
OUTPUTS = ("inbound_delay_minutes", "rotation_slack_minutes", "propagated_delay_minutes")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    return built_platform(tmp_path_factory.mktemp("v3"))


@pytest.fixture(scope="module")
def frame(built) -> pd.DataFrame:
    return service_frame(built, "flight_delay_v3")


@pytest.fixture(scope="module")
def flights(built) -> list[dict]:
    return pl.read_parquet(built.offline / "flight_outcomes.parquet").to_dicts()


def _first(leg: dict) -> datetime:
    """When a leg first shows: due at its scheduled departure, or its take-off if earlier."""
    left = leg["departed_at"]
    return leg["scheduled_departure"] if left is None else min(left, leg["scheduled_departure"])


def _order(leg: dict) -> tuple:
    return _first(leg), leg["scheduled_departure"], leg["carrier"], leg["flight"]


def _leg_events(leg: dict) -> list[tuple[datetime, int, int | None]]:
    """(when known, status, delay) of one leg, from its flight_outcomes row."""
    scheduled, left = leg["scheduled_departure"], leg["departed_at"]
    events = []
    if left is None or left > scheduled:
        events.append((scheduled, DUE, None))
    if left is not None:
        events.append((left, IN_THE_AIR, leg["dep_delay"]))
    if left is not None and leg["known_at"] is not None and leg["known_at"] > left:
        arrived = max(leg["dep_delay"], LATE_MINUTES) if leg["diverted"] else leg["arr_delay"]
        events.append((leg["known_at"], LANDED, arrived))
    return events


def _events(legs: list[dict]) -> list[tuple[datetime, int, int | None, dict]]:
    """One aircraft's events, less those at or after a later leg first showed."""
    return [
        (at, status, delay, leg)
        for leg in legs
        for at, status, delay in _leg_events(leg)
        if not any(_order(o) > _order(leg) and _first(o) <= at for o in legs)
    ]


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def _latest(flight: dict, events: list[tuple]) -> tuple | None:
    """The aircraft's latest event in (t - 24 h, t], t the flight's prediction time."""
    t = flight["prediction_time"]
    inside = [e for e in events if t - WINDOW < e[0] <= t]
    return max(inside, key=lambda e: e[0]) if inside else None


def _reference(flight: dict, latest: tuple | None) -> dict:
    """The on-demand outputs for `flight`, its aircraft's latest event being `latest`."""
    if latest is None:
        return dict.fromkeys(OUTPUTS)
    _, status, delay, leg = latest
    now = flight["prediction_time"]
    inbound = _minutes(now - leg["scheduled_departure"]) if status == DUE else delay
    block = _minutes(leg["scheduled_arrival"] - leg["scheduled_departure"])
    slack = _minutes(flight["scheduled_departure"] - leg["scheduled_departure"]) - 2 * block
    propagated = max(0.0, inbound - (slack - TURNAROUNDS))
    return dict(zip(OUTPUTS, (inbound, slack, propagated), strict=True))


def _same(got, want) -> bool:
    got = plain(got)
    return got is None if want is None else got is not None and math.isclose(got, want)


def test_propagated_delay_equals_the_reference(frame: pd.DataFrame, flights: list[dict]) -> None:
    by_aircraft: dict[str, list[dict]] = {}
    for flight in flights:
        by_aircraft.setdefault(flight["tailnum"], []).append(flight)
    events = {tail: _events(legs) for tail, legs in by_aircraft.items() if tail is not None}
    statuses = Counter()
    for got, flight in zip(frame.to_dict("records"), flights, strict=True):
        latest = _latest(flight, events.get(flight["tailnum"], []))
        want = _reference(flight, latest)
        for name in OUTPUTS:
            assert _same(got[name], want[name]), (got["row"], flight["tailnum"], name, want)
        statuses[None if latest is None else latest[1]] += 1
    # every case is met: no leg in 24 h, and a previous leg due, in the air or landed
    assert all(statuses[s] >= 5 for s in (None, DUE, IN_THE_AIR, LANDED)), statuses
    propagated = frame["propagated_delay_minutes"]
    assert (propagated > 0).sum() > 20 and (propagated == 0).sum() > 20


def test_propagated_delay_by_hand(built) -> None:
    # the flight leaves at 12:00 (predicted at 10:00); the aircraft's previous leg was due at
    # 08:00 with a 90-minute block: 240 minutes apart, 60 of slack after two blocks, none
    # after two 30-minute turnarounds, so all of the inbound delay propagates
    view = open_store(built.feature_repo).get_on_demand_feature_view("propagated_delay")
    run = view.feature_transformation.udf  # the code the registry holds
    noon, eight = datetime(2013, 1, 1, 12, tzinfo=UTC), datetime(2013, 1, 1, 8, tzinfo=UTC)
    out = run(
        {
            "rotation_status_24h": [LANDED, IN_THE_AIR, DUE, None, float("nan")],
            "rotation_departure_24h": [int(eight.timestamp())] * 4 + [float("nan")],
            "rotation_block_24h": [90] * 5,
            "rotation_delay_24h": [45, -10, None, None, float("nan")],
            "scheduled_departure": [noon, noon.isoformat(), int(noon.timestamp()), noon, noon],
        }
    )
    assert out["inbound_delay_minutes"] == [45.0, -10.0, 120.0, None, None]
    assert out["rotation_slack_minutes"] == [60.0, 60.0, 60.0, None, None]
    assert out["propagated_delay_minutes"] == [45.0, 0.0, 120.0, None, None]


def test_the_third_service_is_the_second_and_propagated_delay(built) -> None:
    store = open_store(built.feature_repo)
    names = {
        service: [(p.name, f.name) for p in get_service(store, service).feature_view_projections
                  for f in p.features]
        for service in ("flight_delay_v2", "flight_delay_v3")
    }  # fmt: skip
    added = [("propagated_delay", name) for name in OUTPUTS]
    assert names["flight_delay_v3"] == names["flight_delay_v2"] + added


def test_the_leakage_guard_checks_what_propagated_delay_reads(built) -> None:
    store = open_store(built.feature_repo)
    service = get_service(store, "flight_delay_v3")
    task = built.domain.task
    examples = read_examples(built.offline / f"{task.examples}.parquet", task)
    entities = entities_for(store, service, examples, task)
    frame = historical_frame(store, service, entities, 5000, task)  # passes the guard
    assert frame["propagated_delay_minutes"].notna().sum() > 100
    (read,) = [r for r in hidden_reads(store, service) if r.name == "aircraft_rotation"]
    keys, _ = service_inputs(store, service)
    # looked up at the scheduled departure, two hours late, and labelled as if known in time
    late = entities.assign(**{TIMESTAMP: entities[TIMESTAMP] + task.lead})
    leaky = hidden_frame(store, read, late, keys).assign(**{TIMESTAMP: entities[TIMESTAMP]})
    with pytest.raises(LeakageError, match="view 'aircraft_rotation'"):
        check_hidden(store, read, leaky)
