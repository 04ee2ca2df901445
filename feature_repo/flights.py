"""Feast declarations for the 2013 NYC flights: entities, sources, views and the services.

Every feature row's timestamp is the moment its value became known (a flight's outcome when it
lands). Windowed views are declared once in `windows.py` (which the Polars jobs compute from)
and turned into FeatureViews here. They carry a row for every moment a window's contents
change, so a lookup at time t returns the aggregate over (t - window, t]; their ttl is their
widest window, the longest gap between two rows of one entity while its windows are not empty
(past it Feast answers null: an empty window).
"""

from datetime import timedelta
from pathlib import Path

import pandas as pd
import windows  # this folder's declarations; `feast apply` puts the folder on sys.path
from feast import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    PushSource,
    RequestSource,
)
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String, UnixTimestamp
from feast.value_type import ValueType

# Absolute, so the sources resolve from any working directory (Feast resolves relative ones
# against the current directory, not this folder).
OFFLINE = Path(__file__).resolve().parent.parent / "data" / "offline"
OWNER = "flights-platform@example.com"

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
ENTITIES = {"tailnum": aircraft, "carrier": carrier, "origin": origin, "dest": destination}
DTYPES = {"int64": Int64, "float64": Float64, "string": String}


def _source(name: str) -> FileSource:
    return FileSource(
        name=f"{name}_source",
        path=str(OFFLINE / f"{name}.parquet"),
        timestamp_field="event_timestamp",
        description=f"Offline table {name}.parquet written by `python -m pipelines transform`.",
    )


def _declared(view: windows.WindowedView | windows.StaticView) -> FeatureView:
    """The FeatureView of a view declared in windows.py: same name, features and types."""
    return FeatureView(
        name=view.name,
        entities=[ENTITIES[key] for key in view.entities],
        ttl=view.ttl,
        schema=[Field(name=name, dtype=DTYPES[dtype]) for name, dtype in view.features()],
        source=_source(view.name),
        description=view.description,
        owner=OWNER,
        tags=view.tags,
    )


aircraft_history = _declared(windows.AIRCRAFT_HISTORY)
carrier_performance = _declared(windows.CARRIER_PERFORMANCE)
aircraft_delays = _declared(windows.AIRCRAFT_DELAYS)
aircraft_last_leg = _declared(windows.AIRCRAFT_LAST_LEG)
aircraft_today = _declared(windows.AIRCRAFT_TODAY)
origin_departures = _declared(windows.ORIGIN_DEPARTURES)
dest_arrivals = _declared(windows.DEST_ARRIVALS)
route_delays = _declared(windows.ROUTE_DELAYS)
plane_attributes = _declared(windows.PLANE_ATTRIBUTES)

# Observations also arrive as they are made, pushed to the server's POST /push: a nightly batch
# alone would leave them older than their 3 h ttl for most of the day.
origin_weather_push = PushSource(
    name="origin_weather_push",
    batch_source=_source("origin_weather"),
    description="Hourly observations pushed as they are made; the same rows land in batch.",
)

origin_weather = FeatureView(
    name="origin_weather",
    entities=[origin],
    ttl=timedelta(hours=3),
    schema=[Field(name=name, dtype=Float64) for name in windows.WEATHER_FEATURES],
    source=origin_weather_push,
    description=(
        "The latest hourly weather observation at the departure airport (temperature and dew "
        "point in F, humidity %, wind in degrees and mph, precipitation in inches, pressure in "
        "millibars, visibility in miles); stale after 3 hours."
    ),
    owner=OWNER,
    tags={"entity": "origin", "cadence": "hourly"},
)

flight_request = RequestSource(
    name="flight_request",
    schema=[
        Field(name="scheduled_departure", dtype=UnixTimestamp),
        Field(name="distance", dtype=Int64),
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
    description="Request-time schedule features: local hour, weekday (Monday 0), month, distance.",
    owner=OWNER,
    tags={"entity": "flight", "kind": "request-time"},
)
def flight_schedule(inputs: pd.DataFrame) -> pd.DataFrame:
    local = pd.to_datetime(inputs["scheduled_departure"], utc=True).dt.tz_convert(
        "America/New_York"
    )
    return pd.DataFrame(
        {
            "dep_hour_local": local.dt.hour.astype("int64"),
            "dep_weekday": local.dt.weekday.astype("int64"),
            "dep_month": local.dt.month.astype("int64"),
            "distance_miles": inputs["distance"].astype("float64"),
        }
    )


@on_demand_feature_view(
    sources=[plane_attributes, flight_request],
    schema=[Field(name="plane_age_years", dtype=Int64)],
    description="The aircraft's age in the year of the flight (null when the registry lacks it).",
    owner=OWNER,
    tags={"entity": "aircraft", "kind": "request-time"},
)
def plane_age(inputs: pd.DataFrame) -> pd.DataFrame:
    year = pd.to_datetime(inputs["scheduled_departure"], utc=True).dt.year
    age = year - pd.to_numeric(inputs["plane_year_built"], errors="coerce")
    return pd.DataFrame({"plane_age_years": age.astype("Int64")})


flight_delay_v1 = FeatureService(
    name="flight_delay_v1",
    features=[aircraft_history, carrier_performance, origin_weather, flight_schedule],
    description="Features of the flight-delay model: P(arrival > 15 min late or cancelled).",
    owner=OWNER,
    tags={"model": "flight_delay"},
)

flight_delay_v2 = FeatureService(
    name="flight_delay_v2",
    features=[
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
    ],
    description=(
        "Features of the flight-delay model, full set: the aircraft (recent delays, last leg, "
        "today's flights, registry record), carrier, origin (traffic, weather), destination, "
        "route, and the request. Entity rows need tailnum, carrier, origin and dest."
    ),
    owner=OWNER,
    tags={"model": "flight_delay", "version": "2"},
)
