"""Windowed features computed exactly from their declarations (`larder.WindowedView`).

A view's table has one row per entity and *moment its value can change*: every event, every
moment an event leaves a window (event + window) and, for `today`, the local midnight after an
event. So the latest row at or before t holds the aggregates over (t - w, t], and Feast's
point-in-time join (latest row <= t) returns them, decayed, without a row per hour.

Exactness: the events are sorted by entity and time once, and each window at each moment is a
range of them (`pipelines/window_ranges.py`): counts and integer sums are differences of
integer cumulative sums, minimum and maximum come from a sparse table, `last` is the latest
event of the range, and a distinct count counts the events of the range whose value does not
come again before the range ends. No floating-point sums, and no pass per feature.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

import numpy as np
import polars as pl

from larder import UTC_US
from pipelines import window_ranges as ranges

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PART_ROWS = 2**16  # events per part: its moments' arrays then stay in the processor's caches
DTYPES = {"int64": pl.Int64, "float64": pl.Float64, "string": pl.String}


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


def _inputs(view, i: int, agg) -> list[pl.Expr]:
    """What one aggregation reads from each event: sums (`_s`), non-null counts (`_c`),
    conditions (`_q`), values (`_v`) or values to count once (`_d`)."""
    col = pl.col(agg.column) if agg.column else None
    if agg.kind == "count":
        return []
    if agg.kind == "share":
        return [pl.sql_expr(agg.where).fill_null(False).cast(pl.Int64).alias(f"_q{i}")]
    if col is None and agg.kind in ("total", "mean", "minimum", "maximum", "last", "distinct"):
        raise ValueError(f"{view.name}.{agg.name}: a {agg.kind!r} aggregation needs a column")
    if col is None:
        raise ValueError(f"{view.name}.{agg.name}: unknown aggregation {agg.kind!r}")
    if agg.kind == "total":  # null values add nothing
        return [col.cast(pl.Int64).fill_null(0).alias(f"_s{i}")]
    if agg.kind == "mean":
        return [col.cast(pl.Int64).fill_null(0).alias(f"_s{i}"), col.is_not_null().alias(f"_c{i}")]
    if agg.kind in ("minimum", "maximum", "last"):
        return [col.alias(f"_v{i}")]
    if agg.kind == "distinct":
        return [col.alias(f"_d{i}")]
    raise ValueError(f"{view.name}.{agg.name}: unknown aggregation {agg.kind!r}")


def _rows(events: pl.LazyFrame, view) -> pl.LazyFrame:
    """The view's events: keys, time (`_t`) and the inputs of its aggregations."""
    keys = list(view.entities)
    rows = events.filter(pl.sql_expr(view.where)) if view.where else events
    rows = rows.filter(pl.all_horizontal(pl.col([*keys, view.timestamp]).is_not_null()))
    inputs = [e for i, agg in enumerate(view.aggregations) for e in _inputs(view, i, agg)]
    return rows.select(*keys, pl.col(view.timestamp).cast(UTC_US).alias("_t"), *inputs)


def _rank(column: pl.Series, distinct: pl.Series) -> np.ndarray:
    """Each value's position among the sorted distinct values."""
    if column.dtype == pl.String:  # an Enum's codes: a hash lookup, faster than a search
        return column.cast(pl.Enum(distinct)).to_physical().to_numpy().astype(np.int64)
    return distinct.search_sorted(column).to_numpy().astype(np.int64)


def _entities(rows: pl.DataFrame, keys: list[str]) -> tuple[np.ndarray, pl.DataFrame]:
    """Each row's entity, numbered in key order, and the keys of each entity number."""
    entity, count = np.zeros(rows.height, dtype=np.int64), 1
    for k in keys:  # a mixed-radix number of the keys' ranks sorts like the keys
        distinct = rows[k].unique().sort()
        entity = entity * len(distinct) + _rank(rows[k], distinct)
        count *= len(distinct)
    if len(keys) == 1:
        return entity, distinct.to_frame()
    entity, first = _renumber(entity, count)
    return entity, rows.select(keys)[first]


def _renumber(codes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes in [0, count) numbered 0, 1, ... in order, and one row holding each."""
    if count > 4 * codes.size:  # too sparse for a table: sort
        first, dense = np.unique(codes, return_index=True, return_inverse=True)[1:]
        return dense, first
    used, row = np.zeros(count, dtype=bool), np.zeros(count, dtype=np.int64)
    used[codes] = True
    row[codes] = np.arange(codes.size)  # any row of an entity holds its keys
    return (np.cumsum(used) - 1)[codes], row[used]


def _line(t: np.ndarray, view) -> ranges.Line:
    """The integer axis the view's events are laid on (see `window_ranges.Line`)."""
    first, last = (int(t.min()), int(t.max())) if t.size else (0, 0)
    reach = max(length or timedelta(days=2) for length in view.lengths().values())
    return ranges.Line.around(first, last, reach, runs=1 + len(view.windows))


def _days(line: ranges.Line, view) -> ranges.Days | None:
    """Local midnights over the events' time range, for views with a `today` window."""
    if None not in view.lengths().values():
        return None
    start = EPOCH + timedelta(microseconds=line.first)
    return ranges.Days(start, start + timedelta(microseconds=line.span), view.day_zone)


def _in_order(
    rows: pl.DataFrame, entity: np.ndarray
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The rows, their entities and their times (`_t` in microseconds) sorted by entity, then
    time (ties in any order)."""
    t = rows["_t"].to_physical().to_numpy()
    later = (entity[1:] > entity[:-1]) | (entity[1:] == entity[:-1]) & (t[1:] >= t[:-1])
    if later.all():  # event tables often come sorted already
        return rows, entity, t
    # numpy sorts 16-bit integers by radix: most views have fewer entities than that
    order = np.lexsort((t, entity.astype(np.uint16) if entity.max() < 2**16 else entity))
    return rows[order], entity[order], t[order]


def _parts(entity: np.ndarray, line: ranges.Line) -> list[tuple[int, int, int]]:
    """Runs of whole entities in the sorted rows (start, stop, first entity).

    A part starts near every `PART_ROWS` rows, so the arrays of its moments stay small enough
    for the processor's caches, and wherever entities would overflow one 64-bit line (many
    entities over centuries): each part starts its line at its first entity.
    """
    if not entity.size:
        return [(0, 0, 0)]
    starts = np.flatnonzero(np.r_[True, entity[1:] != entity[:-1]])  # each entity's first row
    block, line_part = starts // PART_ROWS, entity[starts] // line.entities_per_part()
    cut = np.r_[True, (block[1:] != block[:-1]) | (line_part[1:] != line_part[:-1])]
    bounds = [*starts[cut].tolist(), entity.size]
    return [(a, b, int(entity[a])) for a, b in zip(bounds, bounds[1:], strict=False)]


@dataclass
class _Events:
    """One part's events sorted by entity and time, as the windows read them."""

    keys: np.ndarray  # sorted
    entity: np.ndarray  # each event's entity
    inputs: pl.DataFrame  # the per-event inputs (`_s`, `_c`, `_q`, `_v`, `_d`), in that order
    sums: dict[str, np.ndarray]  # cumulative sums of the additive inputs

    @cached_property
    def ties(self) -> np.ndarray:
        """The first event tied with each (for `last`)."""
        return ranges.run_starts(self.keys)

    def next_same(self, column: str) -> np.ndarray:
        """For each event, the index of its entity's next event of the same value (the
        number of events when there is none, or its value is null)."""
        n = self.keys.size
        frame = pl.DataFrame({"g": self.entity, "v": self.inputs[column], "i": np.arange(n)})
        later = frame.select(pl.col("i").shift(-1).over("g", "v").fill_null(n))["i"].to_numpy()
        return np.where(self.inputs[column].is_null().to_numpy(), -1, later)


def _events(inputs: pl.DataFrame, entity: np.ndarray, keys: np.ndarray) -> _Events:
    """The events of a part, sorted, with the cumulative sums of their additive inputs."""
    additive = [c for c in inputs.columns if c.startswith(("_s", "_c", "_q"))]
    sums = {c: ranges.cumulative(inputs[c].to_numpy()) for c in additive}
    return _Events(keys, entity, inputs, sums)


def _distinct(events: _Events, i: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The number of distinct non-null values in each range [lo, hi) of events.

    An event counts at a moment when it is in the range and its value does not come again
    before the range ends (lo <= e < hi <= next[e]). As moments go by, lo and hi only grow,
    so the moments an event counts at are one run of them: it starts where hi passes e,
    and ends where hi passes next[e] or lo passes e. A +1/-1 per run, summed up.
    """
    after = events.next_same(f"_d{i}")
    counted = after >= 0  # null values are not counted
    e = np.arange(after.size)[counted]
    start = np.searchsorted(hi, e + 1, side="left")
    end = np.minimum(
        np.searchsorted(hi, after[counted], side="right"), np.searchsorted(lo, e, side="right")
    )
    keep = start < end
    steps = np.zeros(hi.size + 1, dtype=np.int64)
    np.add.at(steps, start[keep], 1)
    np.add.at(steps, end[keep], -1)
    return np.cumsum(steps)[:-1]


def _leaving(events: np.ndarray, t: np.ndarray, view, days) -> list[np.ndarray]:
    """When the events leave each window: at t + w, or at the local midnight after t."""
    lengths = view.lengths().values()
    return [events + (days.next(t) - t if w is None else ranges.micros(w)) for w in lengths]


def _extreme(v: pl.Series, lo: np.ndarray, hi: np.ndarray, kind: str) -> pl.Series:
    """The minimum or maximum of the non-null values of each range; null when there are none."""
    if v.dtype == pl.String:  # compared by rank among the column's values
        distinct = v.drop_nulls().unique().sort()
        return distinct.gather(_extreme(v.cast(pl.Enum(distinct)).to_physical(), lo, hi, kind))
    op = np.minimum if kind == "minimum" else np.maximum
    physical = v.cast(pl.Int8) if v.dtype == pl.Boolean else v.to_physical()
    found = pl.Series(ranges.range_extreme(_values(physical, kind), lo, hi, op))
    if v.has_nulls():
        known = ranges.cumulative(v.is_not_null().to_numpy())
        nonempty = known[hi] - known[lo] > 0
    else:
        nonempty = hi > lo
    return _where(nonempty, found.cast(physical.dtype).cast(v.dtype))


def _values(physical: pl.Series, kind: str) -> np.ndarray:
    """The values as compact numpy integers or floats; nulls become a value that never wins."""
    never = physical.max() if kind == "minimum" else physical.min()
    return ranges.narrow(physical.fill_null(0 if never is None else never).to_numpy())


def _where(mask: np.ndarray, values: pl.Series) -> pl.Series:
    return pl.select(pl.when(pl.Series(mask)).then(values)).to_series()


def _held(events: _Events, agg, i: int, lo: np.ndarray, hi: np.ndarray) -> pl.Series:
    """A minimum, maximum or last over each range [lo, hi) of events; null when empty."""
    v = events.inputs[f"_v{i}"]
    if agg.kind != "last":
        return _extreme(v, lo, hi, agg.kind)
    # the largest value among the events tied with each, read at the latest event of each
    # moment: hi - 1, as every moment is at or after one of its entity's events
    ends = np.arange(1, v.len() + 1)
    tied = (events.ties != ends - 1).any()
    latest = _extreme(v, events.ties, ends, "maximum") if tied else v
    return _where(hi > lo, latest.gather(hi - 1))


def _feature(agg, i: int) -> pl.Expr:
    n = pl.col("_n")
    if agg.kind == "count":
        return n
    if agg.kind == "total":
        return pl.col(f"_s{i}")
    if agg.kind == "mean":
        return pl.when(pl.col(f"_c{i}") > 0).then(pl.col(f"_s{i}") / pl.col(f"_c{i}"))
    if agg.kind == "share":
        return pl.when(n > 0).then(pl.col(f"_q{i}") / n)
    return pl.col(f"_h{i}")


def _window(events: _Events, lo: np.ndarray, hi: np.ndarray, upto: dict, view, w: str):
    """Window w's features at every moment, from each moment's range [lo, hi) of events
    (`upto`: the cumulative sums at hi). Its working columns live in a frame of its own, so
    they need no window suffix; only the features are named `{agg.name}_{w}`."""
    counted = any(agg.kind in ("count", "share") for agg in view.aggregations)
    inputs = [pl.Series("_n", hi - lo)] if counted else []
    inputs += [pl.Series(c, upto[c] - s[lo]) for c, s in events.sums.items()]
    inputs += [
        _held(events, agg, i, lo, hi).alias(f"_h{i}")
        for i, agg in enumerate(view.aggregations)
        if agg.kind in ("minimum", "maximum", "last")
    ]
    inputs += [
        pl.Series(f"_h{i}", _distinct(events, i, lo, hi))
        for i, agg in enumerate(view.aggregations)
        if agg.kind == "distinct"
    ]
    return pl.DataFrame(inputs).select(
        _feature(agg, i).cast(DTYPES[agg.dtype]).alias(f"{agg.name}_{w}")
        for i, agg in enumerate(view.aggregations)
    )


def _table(
    inputs: pl.DataFrame, entity: np.ndarray, t: np.ndarray, view, line, days
) -> pl.DataFrame:
    """`_g` (the entity, from 0 in this part), `event_timestamp` and the features (`t`: the
    events' times, `_t` in microseconds)."""
    events = _events(inputs, entity, line.key(entity, t))
    at, (hi, *left) = ranges.merge(events.keys, _leaving(events.keys, t, view, days), line.tag_bits)
    upto = {c: s[hi] for c, s in events.sums.items()}
    windows = [
        _window(events, lo, hi, upto, view, w) for lo, w in zip(left, view.windows, strict=True)
    ]
    entity, t = line.place(at)
    columns = [pl.Series("_g", entity), pl.Series("event_timestamp", t).cast(UTC_US)]
    return pl.DataFrame(columns).hstack([c for frame in windows for c in frame.get_columns()])


def compute(events: pl.LazyFrame, view) -> pl.LazyFrame:
    """The view's table: keys, `event_timestamp`, then its features in declared order."""
    keys = list(view.entities)
    _check_integer(events, view)
    rows = _rows(events, view).collect()
    entity, entities = _entities(rows, keys)
    inputs, entity, t = _in_order(rows.drop(keys), entity)
    line = _line(t, view)
    days = _days(line, view)
    table = pl.concat(
        _table(inputs[a:b], entity[a:b] - g0, t[a:b], view, line, days).with_columns(
            pl.col("_g") + g0
        )
        for a, b, g0 in _parts(entity, line)
    )
    return entities[table["_g"]].hstack(table.drop("_g").get_columns()).lazy()
