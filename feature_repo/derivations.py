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
DUE, IN_THE_AIR, LANDED = 0, 1, 2  # a leg's status in `aircraft_rotation`
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
    has no known time zone has no `scheduled_arrival` and no `known_at`.
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
            pl.col("sched_arr").alias("scheduled_arrival"),
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


@derivation
def aircraft_rotation(flight_outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Each leg of an aircraft as the events that tell how late it is, each when it is known.

    A leg is a departure from New York (the legs back are not in the data). Its events: due at
    its scheduled departure if it had not left by then (late, or cancelled: it stays due), in
    the air at take-off (departure delay), landed when its arrival is known (arrival delay). A
    diverted leg is known more than 15 minutes late 15 minutes after its scheduled arrival: it
    then counts as landed, its delay its departure delay but at least 15 minutes. Each event
    carries the leg's scheduled departure (epoch seconds), its scheduled block time in minutes
    (scheduled arrival minus departure) and the best delay estimate known then (null when due).

    An aircraft's legs are ordered by their first event; an event at or after the next leg's
    first is dropped (a landing after the next take-off, as in `aircraft_legs`, and likewise
    after the next leg fell due): the aircraft's latest event is then always its latest leg's,
    and no two events of an aircraft share a moment (a `last` over tied rows would mix them).
    """
    legs = _rotation_legs(flight_outcomes)
    events = pl.concat([_due(legs), _take_offs(legs), _landings(legs)])
    return (
        events.filter(pl.col("next_leg").is_null() | (pl.col("at") < pl.col("next_leg")))
        .drop("next_leg")
        .sort("tailnum", "at")
    )


def _rotation_legs(flight_outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Flights with a tail number, with their leg's columns and the next leg's first event."""
    first = pl.min_horizontal("scheduled_departure", "departed_at")
    return (
        flight_outcomes.filter(pl.col("tailnum").is_not_null())
        .with_columns(
            first=first,
            leg_departure=pl.col("scheduled_departure").dt.epoch("s"),
            leg_block=(pl.col("scheduled_arrival") - pl.col("scheduled_departure"))
            .dt.total_minutes()
            .cast(pl.Int64),
        )
        .sort("tailnum", "first", "scheduled_departure", "carrier", "flight")
        .with_columns(next_leg=pl.col("first").shift(-1).over("tailnum"))
    )


def _event(at: pl.Expr, status: int, delay: pl.Expr) -> list[pl.Expr]:
    """An event's columns: the aircraft, when it is known, the leg's status and schedule, the
    delay known then (and the next leg's first event, to drop what it supersedes)."""
    return [
        pl.col("tailnum"),
        at.dt.cast_time_unit("us").alias("at"),
        pl.lit(status, pl.Int64).alias("status"),
        pl.col("leg_departure"),
        pl.col("leg_block"),
        delay.cast(pl.Int64).alias("delay"),
        pl.col("next_leg"),
    ]


def _due(legs: pl.LazyFrame) -> pl.LazyFrame:
    not_left = pl.col("departed_at").is_null() | (
        pl.col("departed_at") > pl.col("scheduled_departure")
    )
    return legs.filter(not_left).select(
        _event(pl.col("scheduled_departure"), DUE, pl.lit(None, pl.Int64))
    )


def _take_offs(legs: pl.LazyFrame) -> pl.LazyFrame:
    departed = legs.filter(pl.col("departed_at").is_not_null())
    return departed.select(_event(pl.col("departed_at"), IN_THE_AIR, pl.col("dep_delay")))


def _landings(legs: pl.LazyFrame) -> pl.LazyFrame:
    """Landings, and diversions known late; not one known before its take-off (a diverted leg
    that left more than 15 minutes after its scheduled arrival stays in the air)."""
    diverted = pl.max_horizontal("dep_delay", pl.lit(LATE_MINUTES))
    delay = pl.when(pl.col("diverted")).then(diverted).otherwise(pl.col("arr_delay"))
    landed = legs.filter(
        pl.col("departed_at").is_not_null() & (pl.col("known_at") > pl.col("departed_at"))
    )
    return landed.select(_event(pl.col("known_at"), LANDED, delay))
