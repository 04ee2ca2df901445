"""Data contracts between the raw and validated zones (pandera on Polars).

Key uniqueness and references to other tables are checked in `pipelines.validate`, which
keeps the first row of a duplicated key (pandera would flag every copy).

Ranges are grounded in the 2013 data with headroom. A cancelled flight has no `dep_time`,
`dep_delay`, `arr_time`, `arr_delay` or `air_time`, and that is valid; a diverted one departed
but has no `arr_delay`. Times of day are local `hhmm` integers (2400 is midnight at day's end).
"""

import pandera.polars as pa
import polars as pl
from pandera.typing.polars import Series


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


CONTRACTS: dict[str, type[pa.DataFrameModel]] = {
    "flights": Flights,
    "weather": Weather,
    "planes": Planes,
    "airlines": Airlines,
    "airports": Airports,
}
