"""Transform: validated tables in, feature tables out (Polars lazy frames, no I/O here).

A feature row's event timestamp is when its value became known. A flight's outcome is known
when it lands (scheduled arrival + arrival delay); a cancelled flight's at its scheduled
departure; a diverted one's (departed, never arrived) 15 minutes after its scheduled arrival,
when it is certainly late. Windowed aggregates emit a row at every event and at every moment
an event leaves a window, so the latest row at or before t is the aggregate over (t - w, t].
"""

from datetime import timedelta

import polars as pl

from pipelines.tables import UTC_US

LATE_MINUTES = 15
PREDICTION_LEAD = timedelta(hours=2)

# Destinations missing from the package's airports table (Puerto Rico and the Virgin Islands)
MISSING_TZONES = {
    "BQN": "America/Puerto_Rico",
    "PSE": "America/Puerto_Rico",
    "SJU": "America/Puerto_Rico",
    "STT": "America/St_Thomas",
}


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


def flight_outcomes(flights: pl.LazyFrame, airports: pl.DataFrame) -> pl.LazyFrame:
    """One row per flight: schedule in UTC, prediction time, outcome, and when it became known."""
    zones = (
        airports.select("faa", "tzone")
        .vstack(pl.DataFrame({"faa": list(MISSING_TZONES), "tzone": list(MISSING_TZONES.values())}))
        .unique("faa", keep="first")
    )
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
        )
    )


def window_aggregates(
    events: pl.LazyFrame, key: str, windows: dict[str, timedelta], measures: dict[str, pl.Expr]
) -> pl.LazyFrame:
    """Sums of per-event integer `measures`, and the event count `n`, over each trailing window.

    `events` has columns `key`, `known_at` and the measures' inputs. The result has one row per
    key and moment the aggregate can change (an event arrives, or one leaves a window), with
    columns `{measure}_{window}` and `n_{window}`. Sums are integers, so differences of
    cumulative sums are exact.
    """
    cols = ["n", *measures]
    per_time = events.group_by(key, "known_at").agg(
        pl.len().cast(pl.Int64).alias("n"),
        *(e.sum().cast(pl.Int64).alias(m) for m, e in measures.items()),
    )
    cumulative = per_time.sort(key, "known_at").with_columns(pl.col(cols).cum_sum().over(key))
    shifts = [timedelta(0), *windows.values()]
    moments = (
        pl.concat([per_time.select(key, event_timestamp=pl.col("known_at") + s) for s in shifts])
        .unique()
        .sort(key, "event_timestamp")
    )
    at = moments.join_asof(
        cumulative, left_on="event_timestamp", right_on="known_at", by=key, strategy="backward"
    ).select(key, "event_timestamp", *(pl.col(c).fill_null(0) for c in cols))
    for name, width in windows.items():
        before = moments.with_columns(edge=pl.col("event_timestamp") - width).join_asof(
            cumulative, left_on="edge", right_on="known_at", by=key, strategy="backward"
        )
        at = (
            at.join(
                before.select(
                    key,
                    "event_timestamp",
                    *(pl.col(c).fill_null(0).alias(f"_before_{c}") for c in cols),
                ),
                on=[key, "event_timestamp"],
            )
            .with_columns((pl.col(c) - pl.col(f"_before_{c}")).alias(f"{c}_{name}") for c in cols)
            .drop(f"_before_{c}" for c in cols)
        )
    return at.select(
        key, "event_timestamp", *(f"{c}_{name}" for name in windows for c in cols)
    ).sort(key, "event_timestamp")


def _ratio(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den))


AIRCRAFT_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
CARRIER_WINDOWS = {"7d": timedelta(days=7), "30d": timedelta(days=30)}
WEATHER_FEATURES = [
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
]


def aircraft_history(outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Per aircraft: flights landed, mean arrival delay and share late, over 24 h and 7 days."""
    landed = outcomes.filter(pl.col("tailnum").is_not_null() & pl.col("arr_delay").is_not_null())
    sums = window_aggregates(
        landed,
        "tailnum",
        AIRCRAFT_WINDOWS,
        {"delay": pl.col("arr_delay"), "late": pl.col("arr_delay") > LATE_MINUTES},
    )
    return sums.select(
        "tailnum",
        "event_timestamp",
        *(
            expr
            for w in AIRCRAFT_WINDOWS
            for expr in (
                pl.col(f"n_{w}").alias(f"flights_{w}"),
                _ratio(f"delay_{w}", f"n_{w}").alias(f"mean_arr_delay_{w}"),
                _ratio(f"late_{w}", f"n_{w}").alias(f"late_share_{w}"),
            )
        ),
    )


def carrier_performance(outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Per carrier: flights with a known outcome, on-time and cancellation rates, 7 and 30 days."""
    sums = window_aggregates(
        outcomes,
        "carrier",
        CARRIER_WINDOWS,
        {"on_time": ~pl.col("late"), "cancelled": pl.col("cancelled")},
    )
    return sums.select(
        "carrier",
        "event_timestamp",
        *(
            expr
            for w in CARRIER_WINDOWS
            for expr in (
                pl.col(f"n_{w}").alias(f"carrier_flights_{w}"),
                _ratio(f"on_time_{w}", f"n_{w}").alias(f"on_time_rate_{w}"),
                _ratio(f"cancelled_{w}", f"n_{w}").alias(f"cancel_rate_{w}"),
            )
        ),
    )


def origin_weather(weather: pl.LazyFrame) -> pl.LazyFrame:
    """Hourly weather at the origin airport, known at its observation hour."""
    return weather.select(
        "origin",
        pl.col("time_hour").cast(UTC_US).alias("event_timestamp"),
        *(pl.col(c).cast(pl.Float64) for c in WEATHER_FEATURES),
    ).sort("origin", "event_timestamp")
