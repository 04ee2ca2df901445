"""The point-in-time join as DuckDB as-of joins, one per feature view.

Stock Feast joins every feature row of an entity with event time <= t (and within the ttl) to
each entity row, then keeps the latest by (event time, created time) with a window function:
that materialises every candidate. An ASOF LEFT JOIN finds the latest row <= t directly. The
ttl then only has to be checked on the row found: if the latest row is older than t - ttl, so is
every other candidate. Rows sharing an event time are first reduced to the one with the latest
created time (nulls last, as stock Feast orders them), so the as-of match is the row stock
Feast would pick.

The as-of join sorts only keys, times and each row's address in its parquet file; the matched
rows' features are then fetched by address. Sorting the full-width table instead would hold
every feature of every row in memory, more than a hand-written as-of join needs.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from feast.feature_view import FeatureView

from stores.duck import Scan, ident, interval, parquet_scan, source_column, timestamp
from stores.errors import StoreError

ROW = "__feast_asof_row"
TS = "__feast_asof_ts"


@dataclass(frozen=True)
class ViewJoin:
    """One feature view's part of the join, as SQL fragments over its source."""

    scan: Scan
    keys: list[tuple[str, str]]  # (source column, entity frame column), unquoted
    ts: str
    created: str | None
    features: list[tuple[str, str]]  # (source column, output column)
    ttl: timedelta | None


def view_join(view: FeatureView, refs: list[str], full_feature_names: bool) -> ViewJoin:
    """The join of `view` for the requested feature refs ("view:feature")."""
    source = view.batch_source
    if source is None:
        raise StoreError(f"feature view {view.name!r} has no batch source to join")
    prefix = f"{view.projection.name_to_use()}:"
    names = [ref.split(":", 1)[1] for ref in refs if ref.startswith(prefix)]
    base = view.projection.name_alias or view.name
    mapped = view.projection.join_key_map  # as Feast maps them: a key not in the map keeps its name
    join_keys = {e.name: mapped.get(e.name, e.name) for e in view.entity_columns}
    created = source.created_timestamp_column
    return ViewJoin(
        scan=parquet_scan(source),
        keys=[(source_column(source, k), v) for k, v in join_keys.items()],
        ts=source_column(source, source.timestamp_field),
        created=source_column(source, created) if created else None,
        features=[
            (source_column(source, n), f"{base}__{n}" if full_feature_names else n) for n in names
        ],
        ttl=view.ttl or None,
    )


def _narrow_sql(join: ViewJoin, lo: datetime, hi: datetime) -> str:
    """Keys, event time and row address of the view's rows that can match an entity row in
    [lo, hi], one per (keys, event time). The features stay in the file until phase two."""
    ts = f"CAST({ident(join.ts)} AS TIMESTAMPTZ)"
    cols = [f"{ident(src)} AS k{i}" for i, (src, _) in enumerate(join.keys)]
    cols += [f"{ts} AS ts"] + _address(join)
    where = [f"{ts} <= {timestamp(hi)}"] + [f"{ident(src)} IS NOT NULL" for src, _ in join.keys]
    if join.ttl:
        where.append(f"{ts} >= {timestamp(lo)} - {interval(join.ttl)}")
    sql = (
        f"SELECT {', '.join(cols)} FROM {join.scan.sql(addressed=True)} WHERE {' AND '.join(where)}"
    )
    if join.created is None:
        return sql
    partition = ", ".join([f"k{i}" for i in range(len(join.keys))] + ["ts"])
    return (
        f"{sql} QUALIFY row_number() OVER (PARTITION BY {partition} "
        f"ORDER BY CAST({ident(join.created)} AS TIMESTAMPTZ) DESC NULLS LAST) = 1"
    )


_ADDRESS = {"rn": "file_row_number", "fn": "filename"}


def _address(join: ViewJoin) -> list[str]:
    return [f"{_ADDRESS[c]} AS {c}" for c in _address_columns(join)]


def _address_columns(join: ViewJoin) -> list[str]:
    # Row numbers only, for one file: file names would widen the sort by a string per row.
    return ["rn", "fn"] if join.scan.many_files else ["rn"]


def _matches(n: int, join: ViewJoin) -> list[str]:
    """The matched row's address, or nulls where it is older than the ttl allows."""
    if not join.ttl:
        return [f"v{n}.{c} AS {c}{n}" for c in _address_columns(join)]
    fresh = f"v{n}.ts >= e.{TS} - {interval(join.ttl)}"
    return [f"CASE WHEN {fresh} THEN v{n}.{c} END AS {c}{n}" for c in _address_columns(join)]


def asof_sql(entity: str, joins: list[ViewJoin], lo: datetime, hi: datetime) -> str:
    """Row number and every requested feature for each row of relation `entity`, in row order.

    `entity` holds ROW, TS (TIMESTAMPTZ) and the join key columns; [lo, hi] bounds its TS.
    Phase one as-of joins only keys, times and row addresses (a narrow sort); phase two fetches
    the matched rows' features by address, so the wide feature table is never sorted or held.
    """
    select, asof = [f"e.{ROW}"], []
    for n, join in enumerate(joins):
        on = [f"e.{ident(col)} = v{n}.k{i}" for i, (_, col) in enumerate(join.keys)]
        on.append(f"e.{TS} >= v{n}.ts")
        asof.append(f"ASOF LEFT JOIN ({_narrow_sql(join, lo, hi)}) v{n} ON {' AND '.join(on)}")
        select += _matches(n, join)
    matched = f"SELECT {', '.join(select)} FROM {entity} e {' '.join(asof)}"
    features, fetch = [f"m.{ROW}"], []
    for n, join in enumerate(joins):
        cols = _address(join) + [
            f"{ident(src)} AS f{i}" for i, (src, _) in enumerate(join.features)
        ]
        wide = f"SELECT {', '.join(cols)} FROM {join.scan.sql(addressed=True)}"
        by_address = " AND ".join(f"m.{c}{n} = w{n}.{c}" for c in _address_columns(join))
        fetch.append(f"LEFT JOIN ({wide}) w{n} ON {by_address}")
        features += [f"w{n}.f{i} AS {ident(name)}" for i, (_, name) in enumerate(join.features)]
    return (
        f"WITH m AS ({matched}) SELECT {', '.join(features)} FROM m {' '.join(fetch)} "
        f"ORDER BY m.{ROW}"
    )
