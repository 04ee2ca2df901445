"""Feast's point-in-time reference (sdk tests, feature_records.py), re-expressed row by row: the
brute force every join in `stores/` is checked against."""

import math
from datetime import UTC

import pandas as pd


def reference(entity: pd.Series, table: pd.DataFrame, key: str, ttl, created: str | None):
    """The latest row of the key with ts <= t and, with a ttl, ts >= t - ttl; ties on ts go to
    the latest created time, a missing created time counting as the oldest. None if no row."""
    t = entity["event_timestamp"]
    rows = table[(table[key] == entity[key]) & (table["ts"] <= t)]
    if ttl:
        rows = rows[rows["ts"] >= t - ttl]
    if rows.empty:
        return None
    order = [rows["ts"]]
    if created:
        order.append(rows[created].fillna(pd.Timestamp.min.tz_localize(UTC)))
    best = max(range(len(rows)), key=lambda i: tuple(o.iloc[i] for o in order))
    return rows.iloc[best]


def missing(value) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


def same(a, b) -> bool:
    """Equal, or both missing (pandas turns a float null into NaN, so the two are one here)."""
    return (missing(a) and missing(b)) or (not missing(a) and not missing(b) and a == b)
