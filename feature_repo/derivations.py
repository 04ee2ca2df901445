"""Derivations of the flights domain: validated tables in, event tables out (Polars, no I/O).

A feature row's event timestamp is when its value became known. A flight's outcome is known
when it lands (scheduled arrival + arrival delay); a cancelled flight's at its scheduled
departure; a diverted one's (departed, never arrived) 15 minutes after its scheduled arrival,
when it is certainly late.
"""

from datetime import timedelta

import polars as pl

from larder import derivation

LATE_MINUTES = 15
PREDICTION_LEAD = timedelta(hours=2)  # the task's lead: examples are predicted this early

# Destinations missing from the package's airports table (Puerto Rico and the Virgin Islands)
MISSING_TZONES = {
    "BQN": "America/Puerto_Rico",
    "PSE": "America/Puerto_Rico",
    "SJU": "America/Puerto_Rico",
    "STT": "America/St_Thomas",
}


def time_zones(airports: pl.DataFrame) -> pl.DataFrame:
    """faa -> IANA zone, with the zones the airports table lacks."""
    known = airports.select("faa", "tzone").filter(pl.col("tzone").is_not_null())
    extra = pl.DataFrame({"faa": list(MISSING_TZONES), "tzone": list(MISSING_TZONES.values())})
    return pl.concat([known, extra]).unique("faa", keep="first")


def _minutes(col: str) -> pl.Expr:
    return pl.duration(minutes=pl.col(col))


def _local_to_utc(naive: pl.Expr, zone: pl.Expr, zones: list[str]) -> pl.Expr:
    """Interpret a naive local datetime in a per-row IANA zone and convert it to UTC."""
    by_zone = [
        pl.when(zone == z).then(
            naive.dt.replace_time_zone(
                z, ambiguous="earliest", non_existent="null"
            ).dt.convert_time_zone("UTC")
        )
        for z in zones
    ]
    return pl.coalesce(by_zone).dt.cast_time_unit("us")


# A landing is up to a day after the scheduled hour, a local month starts hours from UTC's.
@derivation(reach=timedelta(days=2))
def flight_outcomes(flights: pl.LazyFrame, airports: pl.LazyFrame) -> pl.LazyFrame:
    """One row per flight: schedule in UTC, prediction time, outcome, and when it became known.

    Keeps the source's key (carrier, flight, time_hour, minute). A flight whose destination
    has no known time zone has no `known_at`.
    """
    zones = time_zones(airports.collect())
    zone_names = sorted(z for z in zones["tzone"].unique().to_list() if z)
    sched_arr_local = pl.datetime(
        "year", "month", "day", pl.col("sched_arr_time") // 100, pl.col("sched_arr_time") % 100
    )
    return (
        flights.join(
            zones.lazy().rename({"faa": "dest", "tzone": "dest_tzone"}), on="dest", how="left"
        )
        .with_columns(scheduled_departure=pl.col("time_hour") + _minutes("minute"))
        .with_columns(sched_arr=_local_to_utc(sched_arr_local, pl.col("dest_tzone"), zone_names))
        .with_columns(  # an arrival that reads earlier than the departure lands the next day
            sched_arr=pl.when(pl.col("sched_arr") < pl.col("scheduled_departure"))
            .then(pl.col("sched_arr") + pl.duration(days=1))
            .otherwise(pl.col("sched_arr"))
        )
        .with_columns(
            departed_at=pl.col("scheduled_departure") + _minutes("dep_delay"),
            cancelled=pl.col("dep_time").is_null(),
            diverted=pl.col("dep_time").is_not_null() & pl.col("arr_delay").is_null(),
        )
        .with_columns(
            late=pl.col("cancelled") | pl.col("diverted") | (pl.col("arr_delay") > LATE_MINUTES),
            known_at=pl.when(pl.col("cancelled"))
            .then(pl.col("scheduled_departure"))
            .when(pl.col("diverted"))
            .then(pl.col("sched_arr") + pl.duration(minutes=LATE_MINUTES))
            .otherwise(pl.col("sched_arr") + _minutes("arr_delay")),
            prediction_time=pl.col("scheduled_departure") - PREDICTION_LEAD,
        )
        .select(
            "carrier",
            "flight",
            "tailnum",
            "origin",
            "dest",
            "distance",
            "scheduled_departure",
            "prediction_time",
            "known_at",
            "arr_delay",
            "cancelled",
            "diverted",
            "late",
            "dep_delay",
            "departed_at",
            "time_hour",
            "minute",
        )
    )


@derivation
def aircraft_legs(flight_outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Each flown flight of an aircraft as two events: take-off (in the air) and landing.

    The data holds departures from New York only, so an aircraft's previous leg is its previous
    flight here. A landing is dropped when the aircraft took off again first (bad data): the
    later take-off is then its latest leg. A diverted flight 'lands' when it is known to be
    late, without an arrival delay.
    """
    flown = (
        flight_outcomes.filter(
            pl.col("tailnum").is_not_null() & pl.col("departed_at").is_not_null()
        )
        .select("tailnum", "departed_at", "known_at", "dep_delay", "arr_delay")
        .sort("tailnum", "departed_at")
        .with_columns(next_departure=pl.col("departed_at").shift(-1).over("tailnum"))
    )
    takeoffs = flown.select(
        "tailnum",
        at=pl.col("departed_at"),
        landed=pl.lit(False),
        dep_delay=pl.col("dep_delay"),
        arr_delay=pl.lit(None, pl.Int64),
    )
    landings = flown.filter(
        pl.col("next_departure").is_null() | (pl.col("next_departure") > pl.col("known_at"))
    ).select(
        "tailnum",
        at=pl.col("known_at"),
        landed=pl.lit(True),
        dep_delay=pl.col("dep_delay"),
        arr_delay=pl.col("arr_delay"),
    )
    return pl.concat([takeoffs, landings]).sort("tailnum", "at")
