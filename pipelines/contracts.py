"""Data contracts between the raw and validated zones (pandera on Polars), one per table.

Each pandera model holds what one table can check alone: types, nullability, ranges, finite
numbers, cross-column consistency. The rules that need another table or the drop's time are
Polars functions below the models (`row_rules`): references (carrier in airlines, origin in
airports), time zones (a flight's `time_hour` is its local scheduled hour at the origin; it
lands after it departs) and timeliness (no event after the drop, none older than the horizon).
Key uniqueness is checked in `pipelines.validate`, which keeps the first row of a duplicated
key (pandera would flag every copy).

Ranges are grounded in the 2013 data with headroom. A cancelled flight has no `dep_time`,
`dep_delay`, `arr_time`, `arr_delay` or `air_time`, and that is valid; a diverted one departed
but has no `arr_delay`. Times of day are local `hhmm` integers (2400 is midnight at day's end).
Delays are exact in the 2013 data: `dep_delay` = `dep_time` - `sched_dep_time` in minutes,
modulo a day (a flight may leave after midnight), and the same for arrivals.
"""

from datetime import timedelta

import pandera.polars as pa
import polars as pl
from pandera.typing.polars import Series

from pipelines.errors import ContractError
from pipelines.transform import MISSING_TZONES

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


CONTRACTS: dict[str, type[pa.DataFrameModel]] = {
    "flights": Flights,
    "weather": Weather,
    "planes": Planes,
    "airlines": Airlines,
    "airports": Airports,
}

# the columns a dataframe-wide check is about, for the quarantine's `column`
CHECK_COLUMNS = {
    "arrival delay without a departure": "dep_time,arr_delay",
    "dep_delay = dep_time - sched_dep_time": "dep_delay,dep_time,sched_dep_time",
    "arr_delay = arr_time - sched_arr_time": "arr_delay,arr_time,sched_arr_time",
    "scheduled hour and minute disagree with sched_dep_time": "hour,minute,sched_dep_time",
}

# (column, referenced table, referenced column): a value must exist in the referenced table
REFERENCES = {
    "flights": [("carrier", "airlines", "carrier"), ("origin", "airports", "faa")],
    "weather": [("origin", "airports", "faa")],
}
EVENT_TIME = {"flights": "time_hour", "weather": "time_hour"}
ROW = "_row"
DROPPED_AT = "_dropped_at"


def reasons(rows: pl.DataFrame, rule: str, column: str, value: pl.Expr) -> pl.DataFrame:
    """The quarantine's reasons: one row per broken rule, keyed by the row's index."""
    return rows.select(
        pl.col(ROW), rule=pl.lit(rule), column=pl.lit(column), value=value.cast(pl.String)
    )


def reference_failures(
    frame: pl.DataFrame, table: str, references: dict[str, pl.DataFrame]
) -> list[pl.DataFrame]:
    failures = []
    for column, other, other_column in REFERENCES.get(table, []):
        if other not in references:
            raise ContractError(
                f"{table}: no validated {other} table to check {column} against: "
                f"drop a {other} file and ingest it"
            )
        known = references[other][other_column]
        missing = frame.filter(
            pl.col(column).is_not_null() & ~pl.col(column).is_in(known.implode())
        )
        failures.append(
            reasons(missing, f"exists_in({other}.{other_column})", column, pl.col(column))
        )
    return failures


def timeliness_failures(frame: pl.DataFrame, table: str, horizon_days: int) -> list[pl.DataFrame]:
    """No event after its file was dropped, none older than the horizon before it."""
    if table not in EVENT_TIME or DROPPED_AT not in frame.columns:
        return []
    event = pl.col(EVENT_TIME[table])
    oldest = pl.col(DROPPED_AT) - timedelta(days=horizon_days)
    return [
        reasons(
            frame.filter(event > pl.col(DROPPED_AT)), "not_after_drop", EVENT_TIME[table], event
        ),
        reasons(frame.filter(event < oldest), f"within({horizon_days}d)", EVENT_TIME[table], event),
    ]


def time_zones(airports: pl.DataFrame) -> pl.DataFrame:
    """faa -> IANA zone, with the zones the airports table lacks (see pipelines.transform)."""
    known = airports.select("faa", "tzone").filter(pl.col("tzone").is_not_null())
    extra = pl.DataFrame({"faa": list(MISSING_TZONES), "tzone": list(MISSING_TZONES.values())})
    return pl.concat([known, extra]).unique("faa", keep="first")


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


def local_hour_failures(frame: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
    """`time_hour` (UTC) is the row's year, month, day and hour on the origin's clock."""
    rows = frame.select(ROW, "origin", "year", "month", "day", "hour", "time_hour")
    rows = rows.join(zones.rename({"faa": "origin"}), on="origin", how="inner")
    local = _in_zone(rows, "time_hour", "tzone", "_local")
    stated = pl.datetime("year", "month", "day", "hour")
    wrong = local.filter(pl.col("_local") != stated)
    value = pl.format("{} is {} at {}", pl.col("time_hour"), pl.col("_local"), pl.col("origin"))
    return reasons(wrong, "time_hour = local year/month/day/hour at origin", "time_hour", value)


def arrival_failures(frame: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
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
    return reasons(
        wrong, "arrives after departure (time zones applied)", "arr_time,air_time", value
    )


def zone_failures(frame: pl.DataFrame, table: str, references: dict[str, pl.DataFrame]) -> list:
    if table not in ("flights", "weather") or "airports" not in references:
        return []
    zones = time_zones(references["airports"])
    found = [local_hour_failures(frame, zones)]
    return found + [arrival_failures(frame, zones)] if table == "flights" else found


def row_rules(
    frame: pl.DataFrame, table: str, references: dict[str, pl.DataFrame], horizon_days: int
) -> list[pl.DataFrame]:
    """Every rule beyond the pandera model: references, time zones, timeliness."""
    return [
        *reference_failures(frame, table, references),
        *zone_failures(frame, table, references),
        *timeliness_failures(frame, table, horizon_days),
    ]
