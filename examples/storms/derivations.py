"""Derivations of the storms domain: observations in, the event tables of the views and the
task's examples out (Polars, no I/O).

`storm_tracks`: each observation with how its storm has changed (wind and pressure against the
storm's fix 6, 12 and 24 hours before, or the latest fix before that within as long again), the
hour it was made (for the storm's age) and the basin it is in. `storm_examples`: each
observation with its label, whether the storm blows at hurricane strength (wind of at least
64 knots) 24 hours later: its fix at that moment, or the latest one within the six hours
before; a storm no longer tracked then is not a hurricane. The label is known 24 hours after
the observation.
"""

from datetime import timedelta

import polars as pl

from larder import derivation

BASIN = "AL"  # the North Atlantic, NOAA's code: the data holds this basin only
HURRICANE_KNOTS = 64
AHEAD = timedelta(hours=24)
STORM = ["name", "year"]


def _changes(tracks: pl.LazyFrame, hours: int) -> pl.LazyFrame:
    """Wind and pressure now minus at the storm's latest fix at least `hours` ago."""
    ago = timedelta(hours=hours)
    past = tracks.select(
        *STORM,
        (pl.col("observed_at") + ago).alias("_then"),
        pl.col("wind").alias("_wind"),
        pl.col("pressure").alias("_pressure"),
    ).sort("_then")
    joined = tracks.sort("observed_at").join_asof(
        past,
        left_on="observed_at",
        right_on="_then",
        by=STORM,
        strategy="backward",
        tolerance=ago,
        check_sortedness=False,  # both sides are sorted by time just above
    )
    return joined.with_columns(
        (pl.col("wind") - pl.col("_wind")).alias(f"wind_change_{hours}h"),
        (pl.col("pressure") - pl.col("_pressure")).alias(f"pressure_change_{hours}h"),
    ).drop("_then", "_wind", "_pressure")


@derivation(reach=timedelta(days=2))
def storm_tracks(storms: pl.LazyFrame) -> pl.LazyFrame:
    tracks = storms.select(*STORM, "observed_at", "wind", "pressure", "status").with_columns(
        basin=pl.lit(BASIN),
        storm=pl.format("{} {}", "name", "year"),
        fix_hour=pl.col("observed_at").dt.epoch("s") // 3600,
        hurricane=(pl.col("wind") >= HURRICANE_KNOTS).cast(pl.Int64),
    )
    for hours in (6, 12, 24):
        tracks = _changes(tracks, hours)
    return tracks.sort(*STORM, "observed_at")


@derivation(reach=timedelta(days=2))
def storm_examples(storms: pl.LazyFrame) -> pl.LazyFrame:
    fixes = storms.select(*STORM, "observed_at", "lat", "long", "status", "wind")
    later = fixes.select(
        *STORM,
        (pl.col("observed_at") - AHEAD).alias("_from"),
        (pl.col("wind") >= HURRICANE_KNOTS).alias("_hurricane"),
    ).sort("_from")
    labelled = fixes.sort("observed_at").join_asof(
        later,
        left_on="observed_at",
        right_on="_from",
        by=STORM,
        strategy="backward",
        tolerance=timedelta(hours=6),
        check_sortedness=False,  # both sides are sorted by time just above
    )
    return labelled.select(
        *STORM,
        pl.lit(BASIN).alias("basin"),
        "observed_at",
        "lat",
        "long",
        "status",
        "wind",
        pl.col("_hurricane").fill_null(False).alias("hurricane_24h"),
        (pl.col("observed_at") + AHEAD).alias("label_known_at"),
    ).sort("observed_at", *STORM)
