"""Feast declarations for the 2013 NYC flights: entities, sources, views and the services.

Every feature row's timestamp is the moment its value became known (a flight's outcome when it
lands). The views are declared once in `views.py` (which the platform's jobs compute from) and
turned into FeatureViews here. Windowed views carry a row for every moment a window's contents
change, so a lookup at time t returns the aggregate over (t - window, t]; their ttl is their
widest window (past it Feast answers null: an empty window).

The on-demand views are Feast's `python` mode: they take and return columns as lists, so the
prediction server runs them per request without building a DataFrame.
"""

from typing import Any

import views  # this folder's declarations; `feast apply` puts the folder on sys.path
from feast import Entity, FeatureService, Field, PushSource, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, UnixTimestamp
from feast.value_type import ValueType

from larder import feature_view, offline_source

OWNER = "flights@example.com"

aircraft = Entity(
    name="aircraft",
    join_keys=["tailnum"],
    value_type=ValueType.STRING,
    description="An aircraft, by its tail number.",
)
carrier = Entity(
    name="carrier",
    join_keys=["carrier"],
    value_type=ValueType.STRING,
    description="An airline, by its two-letter carrier code.",
)
origin = Entity(
    name="origin",
    join_keys=["origin"],
    value_type=ValueType.STRING,
    description="A New York departure airport (EWR, JFK, LGA), by its FAA code.",
)
destination = Entity(
    name="destination",
    join_keys=["dest"],
    value_type=ValueType.STRING,
    description="A flight's arrival airport, by its FAA code.",
)

aircraft_history = feature_view(views.AIRCRAFT_HISTORY, [aircraft], __file__, owner=OWNER)
carrier_performance = feature_view(views.CARRIER_PERFORMANCE, [carrier], __file__, owner=OWNER)
aircraft_delays = feature_view(views.AIRCRAFT_DELAYS, [aircraft], __file__, owner=OWNER)
aircraft_last_leg = feature_view(views.AIRCRAFT_LAST_LEG, [aircraft], __file__, owner=OWNER)
aircraft_rotation = feature_view(views.AIRCRAFT_ROTATION, [aircraft], __file__, owner=OWNER)
aircraft_today = feature_view(views.AIRCRAFT_TODAY, [aircraft], __file__, owner=OWNER)
origin_departures = feature_view(views.ORIGIN_DEPARTURES, [origin], __file__, owner=OWNER)
dest_arrivals = feature_view(views.DEST_ARRIVALS, [destination], __file__, owner=OWNER)
route_delays = feature_view(views.ROUTE_DELAYS, [origin, destination], __file__, owner=OWNER)
plane_attributes = feature_view(views.PLANE_ATTRIBUTES, [aircraft], __file__, owner=OWNER)

# Observations also arrive as they are made, pushed to the server's POST /push: a nightly batch
# alone would leave them older than their 3 h ttl for most of the day.
origin_weather_push = PushSource(
    name="origin_weather_push",
    batch_source=offline_source("origin_weather", __file__),
    description="Hourly observations pushed as they are made; the same rows land in batch.",
)
origin_weather = feature_view(
    views.ORIGIN_WEATHER, [origin], __file__, source=origin_weather_push, owner=OWNER
)

flight_request = RequestSource(
    name="flight_request",
    schema=[
        Field(
            name="scheduled_departure",
            dtype=UnixTimestamp,
            description="The flight's scheduled departure.",
        ),
        Field(
            name="distance",
            dtype=Int64,
            description="The flight's distance in miles.",
            tags={"minimum": "1", "maximum": "100000"},
        ),
    ],
    description="What the caller knows about the flight when asking for a prediction.",
)


@on_demand_feature_view(
    sources=[flight_request],
    schema=[
        Field(name="dep_hour_local", dtype=Int64),
        Field(name="dep_weekday", dtype=Int64),
        Field(name="dep_month", dtype=Int64),
        Field(name="distance_miles", dtype=Float64),
    ],
    mode="python",
    description="Request-time schedule features: local hour, weekday (Monday 0), month, distance.",
    owner=OWNER,
    tags={"entity": "flight", "kind": "request-time"},
)
def flight_schedule(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    # Self-contained: Feast stores this function's code in the registry, not this file's.
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    def moment(t: Any) -> datetime:  # Feast passes a request's value as it came
        if isinstance(t, str):
            t = datetime.fromisoformat(t)
        elif isinstance(t, int | float):
            t = datetime.fromtimestamp(t, UTC)
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    zone = ZoneInfo("America/New_York")
    local = [moment(t).astimezone(zone) for t in inputs["scheduled_departure"]]
    return {
        "dep_hour_local": [t.hour for t in local],
        "dep_weekday": [t.weekday() for t in local],
        "dep_month": [t.month for t in local],
        "distance_miles": [float(d) for d in inputs["distance"]],
    }


@on_demand_feature_view(
    sources=[plane_attributes, flight_request],
    schema=[Field(name="plane_age_years", dtype=Int64)],
    mode="python",
    description="The aircraft's age in the year of the flight (null when the registry lacks it).",
    owner=OWNER,
    tags={"entity": "aircraft", "kind": "request-time"},
)
def plane_age(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    from datetime import UTC, datetime

    def year(t: Any) -> int:  # Feast passes a request's value as it came
        if isinstance(t, str):
            t = datetime.fromisoformat(t)
        elif isinstance(t, int | float):
            t = datetime.fromtimestamp(t, UTC)
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).year

    built = inputs["plane_year_built"]
    years = [year(t) for t in inputs["scheduled_departure"]]
    unknown = [b is None or b != b for b in built]  # missing, or NaN from a float column
    ages = [None if u else y - int(b) for y, b, u in zip(years, built, unknown, strict=True)]
    return {"plane_age_years": ages}


@on_demand_feature_view(
    sources=[aircraft_rotation, flight_request],
    schema=[
        Field(name="inbound_delay_minutes", dtype=Float64),
        Field(name="rotation_slack_minutes", dtype=Float64),
        Field(name="propagated_delay_minutes", dtype=Float64),
    ],
    mode="python",
    description=(
        "How late the aircraft's inbound leg delivers it, at the prediction time (2 hours before "
        "scheduled departure), from its latest leg from New York within 24 hours, in minutes: "
        "inbound_delay_minutes, that leg's delay (departure delay in the air, arrival delay "
        "landed; while due, the minutes it is already overdue); rotation_slack_minutes, this "
        "scheduled departure minus that leg's, less twice its scheduled block time (out and "
        "back); propagated_delay_minutes, max(0, inbound delay - (slack - 60)), 60 being two "
        "30-minute turnarounds. Null without such a leg (or tail number)."
    ),
    owner=OWNER,
    tags={"entity": "aircraft", "kind": "request-time", "lead": "2h", "turnaround": "2x30m"},
)
def propagated_delay(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    # Self-contained: Feast stores this function's code in the registry, not this file's.
    from datetime import UTC, datetime

    lead, turnaround, due = 120, 30, 0  # PREDICTION_LEAD, minimum turnaround (min), DUE

    def minutes(t: Any) -> float:  # epoch minutes of a request's value, as it came
        if isinstance(t, str):
            t = datetime.fromisoformat(t)
        if isinstance(t, int | float):
            return t / 60
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() / 60

    def known(v: Any) -> bool:
        return v is not None and v == v  # missing, or NaN from a float column

    def rotation(status: Any, left: Any, block: Any, delay: Any, scheduled: Any) -> tuple:
        if not (known(status) and known(left)):
            return None, None, None
        gap = minutes(scheduled) - left / 60  # that leg's scheduled departure to this one's
        overdue = gap - lead  # not left by the prediction time: at least this late
        late = overdue if int(status) == due else (float(delay) if known(delay) else None)
        slack = gap - 2 * float(block) if known(block) else None
        if late is None or slack is None:
            return late, slack, None
        return late, slack, max(0.0, late - (slack - 2 * turnaround))

    leg = [inputs[f"rotation_{n}_24h"] for n in ("status", "departure", "block", "delay")]
    rows = [rotation(*row) for row in zip(*leg, inputs["scheduled_departure"], strict=True)]
    names = ("inbound_delay_minutes", "rotation_slack_minutes", "propagated_delay_minutes")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


flight_delay_v1 = FeatureService(
    name="flight_delay_v1",
    features=[aircraft_history, carrier_performance, origin_weather, flight_schedule],
    description="Features of the flight-delay model: P(arrival > 15 min late or cancelled).",
    owner=OWNER,
    tags={"model": "flight_delay"},
)

# Every view of the flights: v2 serves them all, v3 adds the propagated delay.
FULL_SET = [
    aircraft_history,
    aircraft_delays,
    aircraft_last_leg,
    aircraft_today,
    plane_attributes,
    carrier_performance,
    origin_departures,
    origin_weather,
    dest_arrivals,
    route_delays,
    flight_schedule,
    plane_age,
]

flight_delay_v2 = FeatureService(
    name="flight_delay_v2",
    features=FULL_SET,
    description=(
        "Features of the flight-delay model, full set: the aircraft (recent delays, last leg, "
        "today's flights, registry record), carrier, origin (traffic, weather), destination, "
        "route, and the request. Entity rows need tailnum, carrier, origin and dest."
    ),
    owner=OWNER,
    tags={"model": "flight_delay", "version": "2"},
)

flight_delay_v3 = FeatureService(
    name="flight_delay_v3",
    features=[*FULL_SET, propagated_delay],
    description=(
        "The full set of flight_delay_v2 and the delay the aircraft's inbound leg would pass on "
        "to the flight (propagated_delay). Entity rows need tailnum, carrier, origin and dest."
    ),
    owner=OWNER,
    tags={"model": "flight_delay", "version": "3"},
)
