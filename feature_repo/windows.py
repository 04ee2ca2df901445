"""Declared features: each view below drives both the Polars job that computes it
(`pipelines/windows.py`) and its Feast FeatureView (`flights.py`), so a feature's name is
written once, here.

Plain Python on purpose: `feast apply` imports this file as the top-level module `windows`, and
the pipelines load it by path, so neither side needs the other's libraries.

A windowed view aggregates the rows of an event table the pipelines build (`source`) per entity.
The value of `{aggregation}_{window}` at time t covers the rows whose `timestamp` (the moment the
row became known) lies in (t - window, t]; the `today` window covers [local midnight, t] in
`DAY_ZONE`. `where` (SQL, as Polars' `sql_expr` reads it) keeps only some rows. Aggregations:

- `count`: rows in the window (0 when empty);
- `total` / `mean`: sum / mean of an integer column (exact: integer sums), null mean when empty;
- `minimum` / `maximum`: of a column; `last`: the column at the latest row (the largest value
  among rows tied at that moment); null when the window is empty;
- `share`: the share of rows where a SQL condition holds (a null condition counts as false).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DAY_ZONE = "America/New_York"
TODAY = "today"
# The hourly observation columns served as-of by the `origin_weather` view.
WEATHER_FEATURES = (
    "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib",
)  # fmt: skip
# Static rows are stamped as known long before any flight, and kept for a century: Feast
# needs a timestamp and a ttl, and materializing starts at (its end - ttl).
STATIC_SINCE = datetime(1970, 1, 1, tzinfo=UTC)
STATIC_TTL = timedelta(days=36500)


@dataclass(frozen=True)
class Aggregation:
    name: str
    kind: str  # count | total | mean | minimum | maximum | last | share
    column: str | None = None
    where: str | None = None
    dtype: str = "int64"  # the feature's type: int64 | float64


def count(name: str) -> Aggregation:
    return Aggregation(name, "count")


def total(name: str, column: str) -> Aggregation:
    return Aggregation(name, "total", column)


def mean(name: str, column: str) -> Aggregation:
    return Aggregation(name, "mean", column, dtype="float64")


def minimum(name: str, column: str, dtype: str = "int64") -> Aggregation:
    return Aggregation(name, "minimum", column, dtype=dtype)


def maximum(name: str, column: str, dtype: str = "int64") -> Aggregation:
    return Aggregation(name, "maximum", column, dtype=dtype)


def last(name: str, column: str, dtype: str = "int64") -> Aggregation:
    return Aggregation(name, "last", column, dtype=dtype)


def share(name: str, where: str) -> Aggregation:
    return Aggregation(name, "share", where=where, dtype="float64")


_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def window_length(window: str) -> timedelta:
    """`90m`, `3h`, `7d` -> a timedelta; `today` is at most a day long."""
    if window == TODAY:
        return timedelta(days=1)
    match = re.fullmatch(r"(\d+)([mhd])", window)
    if not match:
        raise ValueError(f"window {window!r}: write a length like 90m, 3h or 7d, or 'today'")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True)
class WindowedView:
    name: str
    entities: tuple[str, ...]  # join keys
    source: str  # an event table built by pipelines.transform.event_tables
    timestamp: str  # the column holding the moment a row became known
    windows: tuple[str, ...]
    aggregations: tuple[Aggregation, ...]
    description: str
    where: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    day_zone: str = DAY_ZONE  # where `today` starts at midnight

    def lengths(self) -> dict[str, timedelta | None]:
        """Each window's length; None for `today`, which restarts at local midnight."""
        return {w: None if w == TODAY else window_length(w) for w in self.windows}

    @property
    def ttl(self) -> timedelta:
        """The widest window: the longest gap between two rows while a window is non-empty."""
        return max(window_length(w) for w in self.windows)

    def features(self) -> list[tuple[str, str]]:
        return [(f"{a.name}_{w}", a.dtype) for w in self.windows for a in self.aggregations]


@dataclass(frozen=True)
class StaticView:
    """Attributes that do not change: one row per entity, known since `STATIC_SINCE`."""

    name: str
    entities: tuple[str, ...]
    source: str
    columns: dict[str, tuple[str, str]]  # feature -> (source column, dtype)
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    ttl: timedelta = STATIC_TTL

    def features(self) -> list[tuple[str, str]]:
        return [(name, dtype) for name, (_, dtype) in self.columns.items()]


LANDED = "arr_delay IS NOT NULL"
DEPARTED = "departed_at IS NOT NULL"

AIRCRAFT_HISTORY = WindowedView(
    name="aircraft_history",
    entities=("tailnum",),
    source="flights",
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
    source="flights",
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
    source="flights",
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
    source="legs",
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
AIRCRAFT_TODAY = WindowedView(
    name="aircraft_today",
    entities=("tailnum",),
    source="flights",
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
)
ORIGIN_DEPARTURES = WindowedView(
    name="origin_departures",
    entities=("origin",),
    source="flights",
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
    source="flights",
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
    source="flights",
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

WINDOWED = (
    AIRCRAFT_HISTORY,
    CARRIER_PERFORMANCE,
    AIRCRAFT_DELAYS,
    AIRCRAFT_LAST_LEG,
    AIRCRAFT_TODAY,
    ORIGIN_DEPARTURES,
    DEST_ARRIVALS,
    ROUTE_DELAYS,
)
STATIC = (PLANE_ATTRIBUTES,)
