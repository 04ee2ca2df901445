"""The point-in-time join as a sorted search, in Polars and NumPy: how `AsofDuckDBOfflineStore`
joins a feature view whose source is local parquet.

For one view:
1. Read the rows that can match: each row's key, event time and created time, with its row
   number in the source, for rows at or before the latest entity time (and, with a ttl, not
   older than the earliest entity time minus the ttl).
2. Give each row one int64, `key number * span + event-time offset`: sorting it orders the
   rows by (key, event time). Rows are first ordered by created time (a missing one first),
   and the sort is stable, so the last of rows sharing key and event time is the one stock
   Feast picks.
3. Give each entity row the same number at its time. The last feature row at or below it is
   the latest row at or before that time, if it has the entity row's key; it counts if it
   also lies within the ttl. One `searchsorted` finds them all; the entity numbers are sorted
   first, so the search walks memory in order (random needles cost twenty times more).
4. Read the view's feature columns (while the search runs) and gather the matched rows:
   sorted by source row, chunk by chunk, with NumPy on every core for fixed-width columns,
   and with Polars for the rest (strings, times, decimals).

Keys are numbered by value when the view has one integer key, and through a hash join on the
distinct keys otherwise. What this cannot do exactly (event times that are not timestamps,
entity keys that do not cast to the source's key types, numbers beyond 62 bits) raises
`UnsupportedSourceError`, and the store answers that view with the DuckDB as-of join instead.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from stores.asof import ViewJoin
from stores.errors import UnsupportedSourceError

ROW = "__row"
TS = "__ts"
CREATED = "__created"
NUMBER = "__key"
LIMIT = 2**62
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class EntityRows:
    """The entity frame as the search needs it."""

    keys: pl.DataFrame  # the join-key columns, as given
    micros: np.ndarray  # event times in microseconds since the epoch (UTC), no nulls

    @classmethod
    def of(cls, table: pa.Table, ts: pa.ChunkedArray, keys: list[str]) -> "EntityRows":
        """From the entity frame as Arrow and its times as UTC microsecond timestamps."""
        # from_arrow is typed DataFrame | Series; a Table always gives a DataFrame.
        keys_frame = cast(pl.DataFrame, pl.from_arrow(table.select(keys)))
        return cls(keys_frame, pc.cast(ts, pa.int64()).to_numpy())


def search_join(entities: EntityRows, join: ViewJoin) -> pa.Table:
    """The view's requested features for every entity row, in entity row order."""
    scan = pl.scan_parquet(join.scan.pattern)
    schema = _check_schema(scan.collect_schema(), join)
    rows = _candidates(scan, join, entities.micros)
    right, left, count = _numbers(rows, entities.keys, join, schema)
    created = rows[CREATED].to_numpy() if join.created else None
    ttl = join.ttl // MICROSECOND if join.ttl else None
    with ThreadPoolExecutor(1) as pool:
        # The feature columns are read while NumPy searches on one core.
        features = pool.submit(scan.select([pl.col(src) for src, _ in join.features]).collect)
        found = _search(right, rows[TS].to_numpy(), created, left, count, entities.micros, ttl)
        matched = rows[ROW].to_numpy()[found] if len(rows) else found
        matched[found < 0] = -1
        del rows, right, left, created, found
        return _gather(features.result(), join, matched)


def _check_schema(schema: pl.Schema, join: ViewJoin) -> pl.Schema:
    times = [join.ts] + ([join.created] if join.created else [])
    for name in times:
        if not isinstance(schema.get(name), pl.Datetime):
            raise UnsupportedSourceError(f"column {name!r} holds {schema.get(name)}, not times")
    return schema


def _candidates(scan: pl.LazyFrame, join: ViewJoin, micros: np.ndarray) -> pl.DataFrame:
    """Row number, event and created time (µs) and keys (k0, k1, ...) of the rows that can
    match an entity row."""
    hi = int(micros.max()) if len(micros) else 0
    lo = int(micros.min()) if len(micros) else 0
    ts = pl.col(join.ts).dt.epoch("us")
    keep = [ts <= hi, ts.is_not_null()] + [pl.col(src).is_not_null() for src, _ in join.keys]
    if join.ttl:
        keep.append(ts >= lo - join.ttl // MICROSECOND)
    columns = [pl.col(ROW).cast(pl.Int64), ts.alias(TS)]
    if join.created:
        created = pl.col(join.created).dt.epoch("us").fill_null(np.iinfo(np.int64).min)
        columns.append(created.alias(CREATED))
    columns += [pl.col(src).alias(f"k{i}") for i, (src, _) in enumerate(join.keys)]
    return scan.with_row_index(ROW).filter(*keep).select(columns).collect()


def _numbers(
    rows: pl.DataFrame, keys: pl.DataFrame, join: ViewJoin, schema: pl.Schema
) -> tuple[np.ndarray, np.ndarray, int]:
    """A number per feature row's key and per entity row's key (-1: no such key), and how many
    numbers there can be."""
    entity = pl.DataFrame(
        [_key(keys[col], schema[src]).rename(f"k{i}") for i, (src, col) in enumerate(join.keys)]
    )
    if len(join.keys) == 1 and schema[join.keys[0][0]].is_integer() and len(rows):
        return _integer_numbers(rows["k0"], entity["k0"])
    on = [f"k{i}" for i in range(len(join.keys))]
    distinct = rows.select(on).unique().with_row_index(NUMBER)
    right = rows.select(on).join(distinct, on=on, how="left", maintain_order="left")
    left = entity.join(distinct, on=on, how="left", maintain_order="left")
    return (
        right[NUMBER].cast(pl.Int64).to_numpy(),
        left[NUMBER].cast(pl.Int64).fill_null(-1).to_numpy(),
        len(distinct),
    )


def _key(column: pl.Series, kind: pl.DataType) -> pl.Series:
    """An entity key column as the source's key type: any integer to an integer, anything else
    only to the same type (the DuckDB join compares the rest)."""
    same = column.dtype in (kind, pl.Null) or (column.dtype.is_integer() and kind.is_integer())
    if not same:
        raise UnsupportedSourceError(f"entity column {column.name!r} is {column.dtype}, not {kind}")
    cast = column.cast(kind, strict=False)
    if cast.null_count() != column.null_count():
        raise UnsupportedSourceError(f"entity column {column.name!r} does not fit {kind}")
    return cast


def _integer_numbers(right: pl.Series, left: pl.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Keys numbered by their value minus the smallest feature-row key."""
    # An integer column's min and max are ints (typed as any scalar); it is not empty here.
    low, high = int(cast(int, right.min())), int(cast(int, right.max()))
    if high - low >= LIMIT:
        raise UnsupportedSourceError("integer keys span more than 62 bits")
    inside = left.is_between(low, high).fill_null(False).to_numpy()
    values = left.cast(pl.Int64, strict=False).fill_null(low).to_numpy()
    return (
        right.cast(pl.Int64).to_numpy() - low,
        np.where(inside, values - low, -1),
        high - low + 1,
    )


def _search(
    right: np.ndarray,
    ts: np.ndarray,
    created: np.ndarray | None,
    left: np.ndarray,
    count: int,
    micros: np.ndarray,
    ttl: int | None,
) -> np.ndarray:
    """For each entity row, the index of its feature row in `right`/`ts`, or -1."""
    if not len(ts) or not len(micros):
        return np.full(len(micros), -1, dtype=np.int64)
    base = int(ts.min())
    span = max(int(micros.max()) - base + 1, 1)
    if count * span >= LIMIT:
        raise UnsupportedSourceError("keys x time span exceed 62 bits")
    combined = right * span + (ts - base)
    order = _order(combined, created)
    ordered = combined[order]
    needles = np.where((left >= 0) & (micros >= base), left * span + (micros - base), -1)
    # Everything below runs in needle order, where every lookup moves forward through memory.
    sort = np.argsort(needles)
    needles = needles[sort]
    at = np.maximum(np.searchsorted(ordered, needles, side="right") - 1, 0)
    hit = ordered[at]
    found = (needles >= 0) & (hit <= needles) & (hit >= needles // span * span)  # same key
    if ttl is not None:
        found &= hit >= needles - ttl
    result = np.empty(len(micros), dtype=np.int64)
    result[sort] = np.where(found, order[at], -1)
    return result


def _order(combined: np.ndarray, created: np.ndarray | None) -> np.ndarray:
    """Positions that sort `combined`, ties by created time, then by position."""
    if created is not None:
        return np.lexsort((created, combined))
    if np.all(combined[1:] >= combined[:-1]):
        return np.arange(len(combined))
    return np.argsort(combined, kind="stable")


@dataclass(frozen=True)
class Placement:
    """Where the matched source rows go: sorted by source row, so each chunk of the source is
    read in order, and the entity positions they are written to."""

    rows: np.ndarray  # matched source rows, ascending
    positions: np.ndarray  # the entity row each goes to
    size: int  # entity rows

    @classmethod
    def of(cls, matched: np.ndarray) -> "Placement":
        hit = np.flatnonzero(matched >= 0)
        order = np.argsort(matched[hit], kind="stable")
        return cls(matched[hit][order], hit[order], len(matched))

    def chunks(self, column: pa.ChunkedArray):
        """(chunk, its rows' offsets within it, the entity positions) per chunk of `column`."""
        start = 0
        for chunk in column.chunks:
            lo, hi = np.searchsorted(self.rows, [start, start + len(chunk)])
            if hi > lo:
                yield chunk, self.rows[lo:hi] - start + chunk.offset, self.positions[lo:hi]
            start += len(chunk)


def _gather(features: pl.DataFrame, join: ViewJoin, matched: np.ndarray) -> pa.Table:
    """The matched rows' features (nulls where nothing matched), named as requested."""
    placement = Placement.of(matched)
    index = pl.Series(matched).cast(pl.get_index_type(), strict=False)  # -1: null

    def take(name: str) -> pa.Array:
        if _width(features.schema[name]):
            return _take(features.select(name).to_arrow().column(0), placement)
        return _plain(features.get_column(name).gather(index).to_arrow())

    # NumPy releases the GIL while it copies: one column per core.
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        columns = list(pool.map(take, features.columns))
    return pa.table(columns, names=[name for _, name in join.features])


def _width(kind: pl.DataType) -> bool:
    return kind.is_integer() or kind.is_float() or kind == pl.Boolean


def _take(column: pa.ChunkedArray, placement: Placement) -> pa.Array:
    """The placement's rows of a fixed-width column, chunk by chunk without copying it first;
    null where a row matched nothing or its value is null."""
    boolean = pa.types.is_boolean(column.type)
    unit = np.dtype(bool) if boolean else np.dtype(f"u{column.type.bit_width // 8}")
    values = np.zeros(placement.size, dtype=unit)
    valid = np.zeros(placement.size, dtype=bool)
    for chunk, offsets, positions in placement.chunks(column):
        bitmap, data = chunk.buffers()[:2]
        if boolean:
            values[positions] = _bits(data, offsets)
        else:
            values[positions] = np.frombuffer(data, dtype=unit)[offsets]
        valid[positions] = True if bitmap is None else _bits(bitmap, offsets)
    nulls = placement.size - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    data = np.packbits(values, bitorder="little") if boolean else values
    return pa.Array.from_buffers(column.type, placement.size, [bitmap, pa.py_buffer(data)], nulls)


def _bits(buffer: pa.Buffer, offsets: np.ndarray) -> np.ndarray:
    return ((np.frombuffer(buffer, dtype=np.uint8)[offsets >> 3] >> (offsets & 7)) & 1).astype(bool)


def _plain(column: pa.Array) -> pa.Array:
    """Polars' large and view string types as the plain ones DuckDB and Feast return."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return column.cast(pa.string())
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return column.cast(pa.binary())
    return column if kind == column.type else column.cast(kind)
