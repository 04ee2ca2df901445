"""The flights domain's views: each drives both the platform's Polars job that computes it and
its Feast FeatureView (`flights.py`), so a feature's name is written once, here.

Windowed views aggregate an event table per entity; `origin_weather` is the latest hourly
observation; `plane_attributes` the FAA registry's record (see larder.views).
"""

from datetime import timedelta

from larder import (
    TODAY,
    ObservedView,
    StaticView,
    WindowedView,
    count,
    last,
    maximum,
    mean,
    minimum,
    share,
    total,
)

DAY_ZONE = "America/New_York"
# The hourly observation columns served as-of by the `origin_weather` view.
WEATHER_FEATURES = (
    "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib",
)  # fmt: skip

LANDED = "arr_delay IS NOT NULL"
DEPARTED = "departed_at IS NOT NULL"

AIRCRAFT_HISTORY = WindowedView(
    name="aircraft_history",
    entities=("tailnum",),
    source="flight_outcomes",
    timestamp="known_at",
    where=f"tailnum IS NOT NULL AND {LANDED}",
    windows=("24h", "7d"),
    aggregations=(
        count("flights"),
        mean("mean_arr_delay", "arr_delay"),
        share("late_share", "arr_delay > 15"),
    ),
    description=(
        "The aircraft's flights that had landed in the last 24 hours and 7 days: how many, "
        "their mean arrival delay (minutes) and the share more than 15 minutes late."
    ),
    tags={"entity": "aircraft", "windows": "24h,7d"},
)
CARRIER_PERFORMANCE = WindowedView(
    name="carrier_performance",
    entities=("carrier",),
    source="flight_outcomes",
    timestamp="known_at",
    windows=("7d", "30d"),
    aggregations=(
        count("carrier_flights"),
        share("on_time_rate", "NOT late"),
        share("cancel_rate", "cancelled"),
    ),
    description=(
        "The carrier's flights whose outcome was known in the last 7 and 30 days: how many, "
        "the share on time (arrived at most 15 minutes late) and the share cancelled."
    ),
    tags={"entity": "carrier", "windows": "7d,30d"},
)
AIRCRAFT_DELAYS = WindowedView(
    name="aircraft_delays",
    entities=("tailnum",),
    source="flight_outcomes",
    timestamp="known_at",
    where=f"tailnum IS NOT NULL AND {LANDED}",
    windows=("24h", "7d"),
    aggregations=(
        maximum("aircraft_max_arr_delay", "arr_delay"),
        minimum("aircraft_min_arr_delay", "arr_delay"),
        total("aircraft_total_arr_delay", "arr_delay"),
    ),
    description=(
        "The aircraft's landed flights in the last 24 hours and 7 days: the worst, the best "
        "and the summed arrival delay (minutes); null when it landed nothing."
    ),
    tags={"entity": "aircraft", "windows": "24h,7d"},
)
AIRCRAFT_LAST_LEG = WindowedView(
    name="aircraft_last_leg",
    entities=("tailnum",),
    source="aircraft_legs",
    timestamp="at",
    windows=("7d",),
    aggregations=(
        last("last_leg_landed", "landed"),
        last("last_leg_dep_delay", "dep_delay"),
        last("last_leg_arr_delay", "arr_delay"),
    ),
    description=(
        "The aircraft's previous flight (within 7 days): 1 once it has landed, 0 while in the "
        "air; its departure delay; its arrival delay (null until it lands, or if diverted)."
    ),
    tags={"entity": "aircraft", "windows": "7d", "kind": "as-of"},
)
AIRCRAFT_ROTATION = WindowedView(
    name="aircraft_rotation",
    entities=("tailnum",),
    source="aircraft_rotation",
    timestamp="at",
    windows=("24h",),
    aggregations=(
        last("rotation_status", "status"),
        last("rotation_departure", "leg_departure"),
        last("rotation_block", "leg_block"),
        last("rotation_delay", "delay"),
    ),
    description=(
        "The aircraft's latest leg from New York (within 24 hours), as known then: its status "
        "(0 due but not left, 1 in the air, 2 landed), scheduled departure (epoch seconds), "
        "scheduled block time (minutes) and delay (minutes: null while due, the departure "
        "delay in the air, the arrival delay once landed)."
    ),
    tags={"entity": "aircraft", "windows": "24h", "kind": "as-of"},
)
AIRCRAFT_TODAY = WindowedView(
    name="aircraft_today",
    entities=("tailnum",),
    source="flight_outcomes",
    timestamp="departed_at",
    where=f"tailnum IS NOT NULL AND {DEPARTED}",
    windows=(TODAY,),
    aggregations=(
        count("flights_departed"),
        mean("mean_dep_delay", "dep_delay"),
    ),
    description=(
        "The aircraft's flights that have taken off since midnight, New York time: how many "
        "and their mean departure delay (minutes)."
    ),
    tags={"entity": "aircraft", "windows": TODAY, "day": DAY_ZONE},
    day_zone=DAY_ZONE,
)
ORIGIN_DEPARTURES = WindowedView(
    name="origin_departures",
    entities=("origin",),
    source="flight_outcomes",
    timestamp="departed_at",
    where=DEPARTED,
    windows=("1h", "3h"),
    aggregations=(
        count("origin_departures"),
        mean("origin_mean_dep_delay", "dep_delay"),
        maximum("origin_max_dep_delay", "dep_delay"),
    ),
    description=(
        "Take-offs at the departure airport in the last 1 and 3 hours: how many, their mean "
        "and worst departure delay (minutes)."
    ),
    tags={"entity": "origin", "windows": "1h,3h"},
)
DEST_ARRIVALS = WindowedView(
    name="dest_arrivals",
    entities=("dest",),
    source="flight_outcomes",
    timestamp="known_at",
    where=LANDED,
    windows=("3h", "24h"),
    aggregations=(
        count("dest_arrivals"),
        mean("dest_mean_arr_delay", "arr_delay"),
        share("dest_late_share", "arr_delay > 15"),
    ),
    description=(
        "Flights from New York that landed at the destination airport in the last 3 and 24 "
        "hours: how many, their mean arrival delay (minutes), the share more than 15 late."
    ),
    tags={"entity": "dest", "windows": "3h,24h"},
)
ROUTE_DELAYS = WindowedView(
    name="route_delays",
    entities=("origin", "dest"),
    source="flight_outcomes",
    timestamp="known_at",
    where=LANDED,
    windows=("30d",),
    aggregations=(
        count("route_flights"),
        mean("route_mean_arr_delay", "arr_delay"),
        share("route_late_share", "arr_delay > 15"),
    ),
    description=(
        "Flights on the route (origin to destination) landed in the last 30 days: how many, "
        "their mean arrival delay (minutes), the share more than 15 minutes late."
    ),
    tags={"entity": "route", "windows": "30d"},
)
PLANE_ATTRIBUTES = StaticView(
    name="plane_attributes",
    entities=("tailnum",),
    source="planes",
    columns={
        "plane_year_built": ("year", "int64"),
        "plane_seats": ("seats", "int64"),
        "plane_engines": ("engines", "int64"),
        "plane_engine_type": ("engine", "string"),
    },
    description=(
        "The aircraft's registration record (FAA): year built, seats, number and type of "
        "engines. Static; null for the aircraft the registry does not list."
    ),
    tags={"entity": "aircraft", "kind": "static"},
)

ORIGIN_WEATHER = ObservedView(
    name="origin_weather",
    entities=("origin",),
    source="weather",
    timestamp="time_hour",
    columns={name: (name, "float64") for name in WEATHER_FEATURES},
    ttl=timedelta(hours=3),
    description=(
        "The latest hourly weather observation at the departure airport (temperature and dew "
        "point in F, humidity %, wind in degrees and mph, precipitation in inches, pressure in "
        "millibars, visibility in miles); stale after 3 hours."
    ),
    tags={"entity": "origin", "cadence": "hourly"},
)
