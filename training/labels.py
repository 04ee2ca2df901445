"""Labels: every flight in the offline store as an entity row at its prediction time.

A row carries the Feast join keys (tailnum, carrier, origin, dest), the timestamp features are
looked up at (`event_timestamp` = the prediction time, two hours before departure), the
request columns the on-demand view needs (scheduled_departure, distance), a `row_id` to join
Feast's answer back in this order, and the label `late`.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from training.errors import DataError, MissingInputError

ROW_ID = "row_id"
LABEL = "late"
TIMESTAMP = "event_timestamp"
# A key no aircraft has: Feast finds no rows for it, so aircraft features come back null
# while the flight keeps its row.
UNKNOWN_TAILNUM = "UNKNOWN"
ENTITY_COLUMNS = [
    ROW_ID,
    "tailnum",
    "carrier",
    "origin",
    "dest",
    TIMESTAMP,
    "scheduled_departure",
    "distance",
]
FLIGHT_COLUMNS = [
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "distance",
    "scheduled_departure",
    "prediction_time",
    LABEL,
]
TIMESTAMP_COLUMNS = ["scheduled_departure", "prediction_time"]


def read_flights(path: Path) -> pd.DataFrame:
    """The offline flights table, checked as it crosses into training."""
    if not path.is_file():
        raise MissingInputError(
            f"no offline flights table at {path}: build the offline store first "
            "(`python -m pipelines run`, or set FLIGHTS_FEATURE_REPO to a built platform)"
        )
    flights = pd.read_parquet(path)
    check_flights(flights, path)
    return flights


def check_flights(flights: pd.DataFrame, source: Path) -> None:
    missing = sorted(set(FLIGHT_COLUMNS) - set(flights.columns))
    if missing:
        raise DataError(f"{source} lacks column(s) {missing}: rebuild it with the pipelines")
    for col in TIMESTAMP_COLUMNS:
        if str(flights[col].dtype) != "datetime64[us, UTC]":
            raise DataError(f"{source}: {col} is {flights[col].dtype}, expected UTC microseconds")
    nulls = [c for c in FLIGHT_COLUMNS if c != "tailnum" and flights[c].isna().any()]
    if nulls:
        raise DataError(f"{source}: null values in {nulls}; only tailnum may be null")
    if (flights["tailnum"] == UNKNOWN_TAILNUM).any():
        raise DataError(f"{source}: a real tail number equals the sentinel {UNKNOWN_TAILNUM!r}")


def entity_frame(flights: pd.DataFrame) -> pd.DataFrame:
    """One row per flight, in the table's order (by scheduled departure, carrier, flight)."""
    flights = flights.reset_index(drop=True)
    return pd.DataFrame(
        {
            ROW_ID: np.arange(len(flights), dtype="int64"),
            "tailnum": flights["tailnum"].fillna(UNKNOWN_TAILNUM),
            "carrier": flights["carrier"],
            "origin": flights["origin"],
            "dest": flights["dest"],
            TIMESTAMP: flights["prediction_time"],
            "scheduled_departure": flights["scheduled_departure"],
            "distance": flights["distance"].astype("int64"),
            "flight": flights["flight"],
            LABEL: flights[LABEL].astype("int64"),
        }
    )


def load_entities(path: Path) -> pd.DataFrame:
    return entity_frame(read_flights(path))
