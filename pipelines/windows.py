"""Windowed features computed exactly from their declarations (`feature_repo/windows.py`).

A view's table has one row per entity and *moment its value can change*: every event, every
moment an event leaves a window (event + window) and, for `today`, the local midnight after an
event. So the latest row at or before t holds the aggregates over (t - w, t], and Feast's
point-in-time join (latest row <= t) returns them, decayed, without a row per hour.

Exactness: events are first grouped per (entity, moment). Counts and integer sums are running
totals of integer changes (an event adds its sums, and subtracts them when it leaves a window or
at the next local midnight); minimum and maximum are rolling extremes (cumulative within the
local day for `today`); `last` is the latest event row at or before each moment. No
floating-point sums.
"""

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import polars as pl

from pipelines.tables import UTC_US

DTYPES = {"int64": pl.Int64, "float64": pl.Float64, "string": pl.String}


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


def _entity_ids(partial: pl.LazyFrame, keys: list[str]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Entities numbered `_g` in key order, so sorting by (`_g`, time) sorts by (keys, time)."""
    ids = partial.select(keys).unique().sort(keys).with_row_index("_g")
    return partial.join(ids, on=keys).drop(keys), ids


def _additive(partial: pl.LazyFrame) -> list[str]:
    return [c for c in partial.collect_schema() if c.startswith(("_n", "_s", "_c", "_q"))]


def _leaving(partial: pl.LazyFrame, w: str, length, view) -> pl.LazyFrame:
    """The events' partial sums, negated, at the moment they leave window `w`."""
    t = _next_midnight(pl.col("_t"), view.day_zone) if length is None else pl.col("_t") + length
    sums = (-pl.col(c).alias(f"{c}_{w}") for c in _additive(partial))
    return partial.select("_g", t.alias("_t"), *sums)


def _key(partial: pl.DataFrame, view) -> pl.Expr:
    """One sortable integer per (entity, moment), and the slice of it each entity owns.

    Entity g owns [g * span, (g + 1) * span): wider than its moments plus the longest window,
    so a rolling window by the key never reaches another entity. Int64 sorts much faster
    than two columns; Int128 holds what Int64 cannot (many entities over centuries).
    """
    first, last, entities = partial.select(
        pl.col("_t").min().alias("first"),
        pl.col("_t").max().alias("last"),
        pl.col("_g").max().fill_null(0).cast(pl.Int64) + 1,
    ).row(0)
    if first is None:  # no events
        first = last = datetime(1970, 1, 1, tzinfo=UTC)
    reach = max(length or timedelta(days=2) for length in view.lengths().values())
    span = (last - first + 2 * reach) // timedelta(microseconds=1) + 1
    dtype = pl.Int64 if entities * span < 2**63 else pl.Int128
    since = (pl.col("_t") - first).dt.total_microseconds()
    return (pl.col("_g").cast(dtype) * span + since).alias("_k")


def _changes(partial: pl.LazyFrame, view, key: pl.Expr) -> pl.LazyFrame:
    """One row per (entity, moment), sorted by `_k`, with each window's sums over (t - w, t].

    Each entity's changes add up to zero (every event leaves every window), so one cumulative
    sum over the whole sorted frame gives every entity's window sums: exact integer arithmetic,
    without a per-entity pass.
    """
    additive, windows = _additive(partial), view.lengths()
    values = [c for c in partial.collect_schema() if c.startswith("_v")]
    sums = [f"{c}_{w}" for w in windows for c in additive]
    entering = partial.select(
        "_g", "_t", pl.col("_n").alias("_e"), *values,
        *(pl.col(c).alias(f"{c}_{w}") for w in windows for c in additive),
    )  # fmt: skip
    leaving = [_leaving(partial, w, length, view) for w, length in windows.items()]
    last_of_moment = (pl.col("_k") != pl.col("_k").shift(-1)).fill_null(True)
    return (  # the event row is concatenated last, so it ends its moment's run: keep that row
        pl.concat([*leaving, entering], how="diagonal")
        .with_columns(_k=key)
        .sort("_k", maintain_order=True)
        .with_columns(pl.col(sums).fill_null(0).cum_sum())
        .filter(last_of_moment)
    )


def _with_last(frame: pl.LazyFrame, view) -> pl.LazyFrame:
    """The latest event at or before each moment (`_lt`) and its `last` values (`_lv{i}`)."""
    lasts = [i for i, a in enumerate(view.aggregations) if a.kind == "last"]
    if not lasts:
        return frame
    at = pl.when(pl.col("_e") > 0).then(pl.int_range(pl.len())).forward_fill()
    frame = frame.with_columns(_at=at)
    mine = pl.col("_g").gather("_at") == pl.col("_g")  # not an earlier entity's event
    latest = [pl.col("_t").alias("_lt"), *(pl.col(f"_v{i}").alias(f"_lv{i}") for i in lasts)]
    return frame.with_columns(pl.when(mine).then(c.gather("_at")) for c in latest)


def _with_day(frame: pl.LazyFrame, view) -> pl.LazyFrame:
    """The local day of each moment, needed only by `today` extremes and `last`."""
    needs = {"minimum", "maximum", "last"} & {a.kind for a in view.aggregations}
    if None not in view.lengths().values() or not needs:
        return frame
    return frame.with_columns(_day=_local_day(pl.col("_t"), view.day_zone))


def _held(agg, i: int, length, zone: str, keyed: bool) -> pl.Expr:
    """A minimum, maximum or last over (t - w, t] (or since local midnight)."""
    v, latest = pl.col(f"_v{i}"), pl.col(f"_lv{i}")
    if agg.kind == "last":
        if length is None:
            return pl.when(_local_day(pl.col("_lt"), zone) == pl.col("_day")).then(latest)
        return pl.when(pl.col("_lt") > pl.col("_t") - length).then(latest)
    if length is None:
        cum = v.cum_min() if agg.kind == "minimum" else v.cum_max()
        return cum.forward_fill().over(["_g", "_day"])
    how = "rolling_min_by" if agg.kind == "minimum" else "rolling_max_by"
    if keyed:  # entities lie apart on the key: no per-entity pass
        window = f"{length // timedelta(microseconds=1)}i"
        return getattr(v, how)("_k", window_size=window, closed="right")
    return getattr(v, how)("_t", window_size=length, closed="right").over("_g")


def _feature(agg, i: int, w: str, length, zone: str, keyed: bool) -> pl.Expr:
    n = pl.col(f"_n_{w}")
    if agg.kind == "count":
        return n
    if agg.kind == "total":
        return pl.col(f"_s{i}_{w}")
    if agg.kind == "mean":
        return pl.when(pl.col(f"_c{i}_{w}") > 0).then(pl.col(f"_s{i}_{w}") / pl.col(f"_c{i}_{w}"))
    if agg.kind == "share":
        return pl.when(n > 0).then(pl.col(f"_q{i}_{w}") / n)
    return _held(agg, i, length, zone, keyed)


def compute(events: pl.LazyFrame, view) -> pl.LazyFrame:
    """The view's table: keys, `event_timestamp`, then its features in declared order."""
    keys = list(view.entities)
    _check_integer(events, view)
    partial, ids = _entity_ids(_per_moment(events, view), keys)
    partial = partial.collect()  # its time range sizes the sort key
    key = _key(partial, view)
    keyed = partial.head(0).select(key).schema["_k"] == pl.Int64
    frame = _changes(partial.lazy(), view, key).pipe(_with_last, view).pipe(_with_day, view)
    features = [
        _feature(agg, i, w, length, view.day_zone, keyed)
        .cast(DTYPES[agg.dtype])
        .alias(f"{agg.name}_{w}")
        for w, length in view.lengths().items()
        for i, agg in enumerate(view.aggregations)
    ]
    return (
        frame.select("_g", pl.col("_t").alias("event_timestamp"), *features)
        .join(ids, on="_g", how="left", maintain_order="left")
        .select(*keys, "event_timestamp", *(name for name, _ in view.features()))
    )


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
