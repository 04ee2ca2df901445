"""Feast declarations for the 2013 NYC flights: entities, sources, views and the service.

Every feature row's timestamp is the moment its value became known (a flight's outcome when it
lands). Windowed views carry a row for every moment a window's contents change, so a lookup at
time t returns the aggregate over (t - window, t]; their ttl is their widest window, the
longest gap between two rows of one entity.
"""

from datetime import timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, UnixTimestamp
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


def _source(name: str) -> FileSource:
    return FileSource(
        name=f"{name}_source",
        path=str(OFFLINE / f"{name}.parquet"),
        timestamp_field="event_timestamp",
        description=f"Offline table {name}.parquet written by `python -m pipelines transform`.",
    )


def _windowed(prefixes: dict[str, type], windows: list[str]) -> list[Field]:
    return [Field(name=f"{p}_{w}", dtype=t) for w in windows for p, t in prefixes.items()]


aircraft_history = FeatureView(
    name="aircraft_history",
    entities=[aircraft],
    ttl=timedelta(days=7),
    schema=_windowed(
        {"flights": Int64, "mean_arr_delay": Float64, "late_share": Float64}, ["24h", "7d"]
    ),
    source=_source("aircraft_history"),
    description=(
        "The aircraft's flights that had landed in the last 24 hours and 7 days: how many, "
        "their mean arrival delay (minutes) and the share more than 15 minutes late."
    ),
    owner=OWNER,
    tags={"entity": "aircraft", "windows": "24h,7d"},
)

carrier_performance = FeatureView(
    name="carrier_performance",
    entities=[carrier],
    ttl=timedelta(days=30),
    schema=_windowed(
        {"carrier_flights": Int64, "on_time_rate": Float64, "cancel_rate": Float64}, ["7d", "30d"]
    ),
    source=_source("carrier_performance"),
    description=(
        "The carrier's flights whose outcome was known in the last 7 and 30 days: how many, "
        "the share on time (arrived at most 15 minutes late) and the share cancelled."
    ),
    owner=OWNER,
    tags={"entity": "carrier", "windows": "7d,30d"},
)

origin_weather = FeatureView(
    name="origin_weather",
    entities=[origin],
    ttl=timedelta(hours=3),
    schema=[
        Field(name=name, dtype=Float64)
        for name in (
            "temp",
            "dewp",
            "humid",
            "wind_dir",
            "wind_speed",
            "wind_gust",
            "precip",
            "pressure",
            "visib",
        )
    ],
    source=_source("origin_weather"),
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


flight_delay_v1 = FeatureService(
    name="flight_delay_v1",
    features=[aircraft_history, carrier_performance, origin_weather, flight_schedule],
    description="Features of the flight-delay model: P(arrival > 15 min late or cancelled).",
    owner=OWNER,
    tags={"model": "flight_delay"},
)
