"""The brute-force reference for declared windowed features: plain Python loops over events.

Only the rows' `where` conditions are evaluated by Polars' SQL (the same text the job reads);
windows, edges, ties, the local day and every aggregation are loops here.
"""

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl


def prepare(events: pl.DataFrame, view) -> list[dict]:
    """The view's rows as dicts, with `_keep` (its `where`) and `_if{i}` (share conditions)."""
    flags = [pl.sql_expr(view.where).alias("_keep") if view.where else pl.lit(True).alias("_keep")]
    flags += [
        pl.sql_expr(a.where).fill_null(False).alias(f"_if{i}")
        for i, a in enumerate(view.aggregations)
        if a.kind == "share"
    ]
    return events.with_columns(flags).to_dicts()


def _midnight(t: datetime, zone: str) -> datetime:
    local = t.astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), time(0), ZoneInfo(zone))


def _inside(rows: list[dict], view, key: tuple, t: datetime, length) -> list[dict]:
    start = None if length is None else t - length
    midnight = _midnight(t, view.day_zone) if length is None else None
    ts = view.timestamp
    out = []
    for row in rows:
        when = row[ts]
        if not row["_keep"] or when is None or tuple(row[k] for k in view.entities) != key:
            continue
        opened = start < when if start is not None else midnight <= when
        if opened and when <= t:
            out.append(row)
    return out


def _aggregate(agg, i: int, inside: list[dict], ts: str) -> Any:
    values = [r[agg.column] for r in inside if agg.column and r[agg.column] is not None]
    if agg.kind == "count":
        return len(inside)
    if agg.kind == "total":
        return sum(int(v) for v in values)
    if agg.kind == "mean":
        return sum(int(v) for v in values) / len(values) if values else None
    if agg.kind == "share":
        return sum(1 for r in inside if r[f"_if{i}"]) / len(inside) if inside else None
    if agg.kind == "distinct":
        return len(set(values))
    if agg.kind in ("minimum", "maximum"):
        return (min if agg.kind == "minimum" else max)(values) if values else None
    if agg.kind == "last":
        if not inside:
            return None
        latest = max(r[ts] for r in inside)
        tied = [r[agg.column] for r in inside if r[ts] == latest and r[agg.column] is not None]
        return None if not tied else int(max(tied)) if agg.dtype == "int64" else max(tied)
    raise ValueError(agg.kind)


def reference(rows: list[dict], view, key: tuple, t: datetime) -> dict[str, Any]:
    """Every feature of `view` for `key` at time t, from the events by brute force."""
    out = {}
    for w, length in view.lengths().items():
        inside = _inside(rows, view, key, t, length)
        for i, agg in enumerate(view.aggregations):
            out[f"{agg.name}_{w}"] = _aggregate(agg, i, inside, view.timestamp)
    return out
