"""Windowed features computed exactly from their declarations (`feature_repo/windows.py`).

A view's table has one row per entity and *moment its value can change*: every event, every
moment an event leaves a window (event + window) and, for `today`, the local midnight after an
event. So the latest row at or before t holds the aggregates over (t - w, t], and Feast's
point-in-time join (latest row <= t) returns them, decayed, without a row per hour.

Exactness: events are first grouped per (entity, moment); counts and integer sums over sliding
windows are integer rolling sums, minimum and maximum rolling extremes, `last` an as-of join;
`today` restarts cumulative sums and extremes at each local midnight. No floating-point sums.
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import polars as pl

from pipelines.tables import UTC_US

DTYPES = {"int64": pl.Int64, "float64": pl.Float64, "string": pl.String}
ADDITIVE = {"total": "_s", "mean": "_s", "share": "_q"}


def load_declarations(repo: Path) -> ModuleType:
    """The feature repo's `windows.py`, loaded by path (Feast imports it as `windows`)."""
    name = "_feature_repo_windows"
    spec = importlib.util.spec_from_file_location(name, repo / "windows.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no windows.py in the feature repo {repo}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _check_integer(events: pl.LazyFrame, view) -> None:
    schema = events.collect_schema()
    for agg in view.aggregations:
        if agg.kind in ("total", "mean") and not (
            schema[agg.column].is_integer() or schema[agg.column] == pl.Boolean
        ):
            raise ValueError(
                f"{view.name}.{agg.name}: {agg.column} is {schema[agg.column]}; sums are kept "
                "exact on integers only, so cast it (e.g. to whole minutes or cents) first"
            )


def _per_moment(events: pl.LazyFrame, view) -> pl.LazyFrame:
    """One row per (entity, moment) with the partial aggregates of the events at that moment."""
    keys = list(view.entities)
    rows = events.filter(pl.sql_expr(view.where)) if view.where else events
    rows = rows.filter(pl.all_horizontal(pl.col([*keys, view.timestamp]).is_not_null()))
    parts: list[pl.Expr] = [pl.len().cast(pl.Int64).alias("_n")]
    for i, agg in enumerate(view.aggregations):
        col = pl.col(agg.column) if agg.column else None
        if agg.kind in ("total", "mean"):
            parts.append(col.cast(pl.Int64).sum().alias(f"_s{i}"))
            parts.append(col.count().cast(pl.Int64).alias(f"_c{i}"))
        elif agg.kind == "share":
            parts.append(
                pl.sql_expr(agg.where).fill_null(False).cast(pl.Int64).sum().alias(f"_q{i}")
            )
        elif agg.kind == "minimum":
            parts.append(col.min().alias(f"_v{i}"))
        elif agg.kind in ("maximum", "last"):  # last: the largest value among tied rows
            parts.append(col.max().alias(f"_v{i}"))
        elif agg.kind != "count":
            raise ValueError(f"{view.name}.{agg.name}: unknown aggregation {agg.kind!r}")
    return rows.group_by(*keys, pl.col(view.timestamp).cast(UTC_US).alias("_t")).agg(parts)


def _next_midnight(t: pl.Expr, zone: str) -> pl.Expr:
    day = t.dt.convert_time_zone(zone).dt.date() + pl.duration(days=1)
    return day.cast(pl.Datetime("us")).dt.replace_time_zone(zone).dt.convert_time_zone("UTC")


def _local_day(t: pl.Expr, zone: str) -> pl.Expr:
    return t.dt.convert_time_zone(zone).dt.date()


def _moments(partial: pl.LazyFrame, view) -> pl.LazyFrame:
    """Every event, every moment one leaves a window, every local midnight after one."""
    keys = list(view.entities)
    shifted = [
        partial.select(*keys, _t=_next_midnight(pl.col("_t"), view.day_zone))
        if length is None
        else partial.select(*keys, _t=pl.col("_t") + length)
        for length in view.lengths().values()
    ]
    return pl.concat([partial.select(*keys, "_t"), *shifted]).unique()


def _sliding(agg, i: int, w, keys: list[str]) -> dict[str, pl.Expr]:
    """Aggregate columns over (t - w, t] on the frame of moments, sorted by keys and time."""

    def roll(col: str, how: str) -> pl.Expr:
        rolled = getattr(pl.col(col), f"rolling_{how}_by")("_t", window_size=w, closed="right")
        return rolled.over(keys)

    if agg.kind in ("total", "mean"):
        return {"s": roll(f"_s{i}", "sum"), "c": roll(f"_c{i}", "sum")}
    if agg.kind == "share":
        return {"q": roll(f"_q{i}", "sum")}
    if agg.kind in ("minimum", "maximum"):
        return {"v": roll(f"_v{i}", "min" if agg.kind == "minimum" else "max")}
    if agg.kind == "last":
        return {"v": pl.when(pl.col("_lt") > pl.col("_t") - w).then(pl.col(f"_lv{i}"))}
    return {}


def _today(agg, i: int, keys: list[str]) -> dict[str, pl.Expr]:
    """Aggregate columns over [local midnight, t]: cumulative within (keys, local day)."""
    day = [*keys, "_day"]
    if agg.kind in ("total", "mean"):
        return {
            "s": pl.col(f"_s{i}").cum_sum().over(day),
            "c": pl.col(f"_c{i}").cum_sum().over(day),
        }
    if agg.kind == "share":
        return {"q": pl.col(f"_q{i}").cum_sum().over(day)}
    if agg.kind in ("minimum", "maximum"):
        cum = pl.col(f"_v{i}").cum_min() if agg.kind == "minimum" else pl.col(f"_v{i}").cum_max()
        return {"v": cum.forward_fill().over(day)}
    if agg.kind == "last":
        return {"v": pl.when(pl.col("_lday") == pl.col("_day")).then(pl.col(f"_lv{i}"))}
    return {}


def _feature(agg, n: pl.Expr, parts: dict[str, pl.Expr]) -> pl.Expr:
    if agg.kind == "count":
        return n
    if agg.kind == "total":
        return parts["s"]
    if agg.kind == "mean":
        return pl.when(parts["c"] > 0).then(parts["s"] / parts["c"])
    if agg.kind == "share":
        return pl.when(n > 0).then(parts["q"] / n)
    return parts["v"]


def _with_last(frame: pl.LazyFrame, partial: pl.LazyFrame, view) -> pl.LazyFrame:
    """Attach the latest event at or before each moment (`_lt`) and its `last` values."""
    lasts = [i for i, a in enumerate(view.aggregations) if a.kind == "last"]
    if not lasts:
        return frame
    latest = (
        partial.select(*view.entities, "_t", *(pl.col(f"_v{i}").alias(f"_lv{i}") for i in lasts))
        .rename({"_t": "_lt"})
        .sort(*view.entities, "_lt")
    )
    joined = frame.join_asof(
        latest, left_on="_t", right_on="_lt", by=list(view.entities), strategy="backward"
    )
    return joined.with_columns(_lday=_local_day(pl.col("_lt"), view.day_zone))


def compute(events: pl.LazyFrame, view) -> pl.LazyFrame:
    """The view's table: keys, `event_timestamp`, then its features in declared order."""
    keys = list(view.entities)
    _check_integer(events, view)
    partial = _per_moment(events, view)
    filled = [c for c in partial.collect_schema() if c.startswith(("_n", "_s", "_c", "_q"))]
    frame = (
        _moments(partial, view)
        .join(partial, on=[*keys, "_t"], how="left")
        .with_columns(pl.col(filled).fill_null(0), _day=_local_day(pl.col("_t"), view.day_zone))
        .sort(*keys, "_t")
    )
    frame = _with_last(frame, partial, view)
    features = []
    for w, length in view.lengths().items():
        if length is None:
            n = pl.col("_n").cum_sum().over([*keys, "_day"])
        else:
            n = pl.col("_n").rolling_sum_by("_t", window_size=length, closed="right").over(keys)
        for i, agg in enumerate(view.aggregations):
            parts = _today(agg, i, keys) if length is None else _sliding(agg, i, length, keys)
            expr = _feature(agg, n, parts).cast(DTYPES[agg.dtype])
            features.append(expr.alias(f"{agg.name}_{w}"))
    return frame.select(*keys, pl.col("_t").alias("event_timestamp"), *features)


def static(table: pl.LazyFrame, view, since) -> pl.LazyFrame:
    """A static view's table: one row per entity, stamped `since`."""
    return (
        table.select(
            *view.entities,
            pl.lit(since).cast(UTC_US).alias("event_timestamp"),
            *(pl.col(c).cast(DTYPES[t]).alias(f) for f, (c, t) in view.columns.items()),
        )
        .unique(list(view.entities), keep="first")
        .sort(*view.entities)
    )
