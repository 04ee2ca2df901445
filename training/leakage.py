"""The leakage guard: every value of a training frame was known at its row's prediction time.

Feast's historical retrieval does not return the event timestamps of the rows it picked, so the
guard recomputes them independently: a DuckDB as-of join over each view's offline table finds,
per entity row, the latest feature row with `t - ttl <= event_timestamp <= t` (the rule Feast
documents). Every value in the frame must equal that row's value; a value that does not was
taken from some other row, typically one from the future, and the guard names the feature,
shows an offending row and, when it can, the later row the value came from.

On-demand features are computed at request time from the entity row and from the views they
read: what Feast gives them from each view they read, listed by the service or not, is checked
the same way; their own outputs have no event timestamp and are not. Sources with a
created-timestamp column are refused: the guard would need Feast's created-timestamp tie-break,
which the platform's views never have.
"""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.errors import DataError, LeakageError
from training.examples import LABEL, ROW_ID, TIMESTAMP

if TYPE_CHECKING:
    import duckdb
    from feast import FeatureService, FeatureStore


@dataclass(frozen=True)
class ViewTable:
    """One feature view of a service, as the guard reads it."""

    name: str
    path: Path
    keys: dict[str, str]  # column in the offline table -> column in the entity frame
    timestamp: str
    ttl: timedelta | None
    features: list[str]


def check_label(names: list[str], label: str) -> None:
    """The label must never be a feature, under its task's name or the frame's, plain or full
    (`view__name`)."""
    leaking = [n for n in names if any(n == x or n.endswith(f"__{x}") for x in (label, LABEL))]
    if leaking:
        raise LeakageError(
            f"the label {label!r} is among the features ({leaking}): remove it from the "
            "FeatureService; a model that reads its own answer learns nothing"
        )


def view_tables(store: "FeatureStore", service: "FeatureService") -> list[ViewTable]:
    """The service's batch views with their offline tables; on-demand views are left out."""
    on_demand = {view.name for view in store.list_on_demand_feature_views()}
    return [
        _view_table(store, projection)
        for projection in service.feature_view_projections
        if projection.name not in on_demand
    ]


def _view_table(store: "FeatureStore", projection) -> ViewTable:
    view = store.get_feature_view(projection.name)
    source = view.batch_source
    if getattr(source, "created_timestamp_column", None):
        raise DataError(
            f"view {view.name!r} has a created-timestamp column: the leakage guard does not "
            "implement Feast's created-timestamp tie-break; extend training/leakage.py first"
        )
    if source is None or not hasattr(source, "path"):
        raise DataError(
            f"view {view.name!r} has no batch source with a path: the leakage guard reads the "
            "view's offline table from that file"
        )
    path = Path(source.path)
    path = path if path.is_absolute() else Path(store.repo_path) / path
    keys = {
        col.name: projection.join_key_map.get(col.name, col.name) for col in view.entity_columns
    }
    features = [field.name for field in projection.features]
    return ViewTable(view.name, path, keys, source.timestamp_field, view.ttl, features)


def check_frame(
    store: "FeatureStore", service: "FeatureService", frame: pd.DataFrame, label: str
) -> None:
    """Raise LeakageError naming every feature whose values were not known in time."""
    import duckdb

    check_label([f.name for p in service.feature_view_projections for f in p.features], label)
    con = duckdb.connect()
    try:
        for table in view_tables(store, service):
            check_view(con, table, frame)
    finally:
        con.close()


def check_hidden(store: "FeatureStore", projection, frame: pd.DataFrame) -> None:
    """Raise LeakageError if what Feast gave an on-demand view from a view it reads (`frame`:
    row_id, event_timestamp, keys and that view's features) was not known in time."""
    import duckdb

    con = duckdb.connect()
    try:
        check_view(con, _view_table(store, projection), frame)
    finally:
        con.close()


def check_view(con: "duckdb.DuckDBPyConnection", table: ViewTable, frame: pd.DataFrame) -> None:
    known = known_values(con, table, frame[[ROW_ID, TIMESTAMP, *table.keys.values()]])
    placed = _Rows.of(frame, known)
    offenders = {
        name: bad
        for name in table.features
        if len(bad := _offending_rows(frame, known, name, placed))
    }
    if offenders:
        name, rows = next(iter(offenders.items()))
        raise LeakageError(
            f"view {table.name!r}: feature(s) {list(offenders)} hold values not known at the "
            f"row's prediction time ({len(rows)} of {len(frame)} rows for {name!r}); "
            + _example(con, table, frame, known, name, rows[0])
        )


def known_values(
    con: "duckdb.DuckDBPyConnection", table: ViewTable, entities: pd.DataFrame
) -> pd.DataFrame:
    """Per row_id, the feature row(s) Feast should pick: latest at or before t, within ttl.

    Two offline rows of one entity at the same timestamp both come back (Feast may pick
    either), so a row_id can appear more than once.
    """
    con.register("entities", entities)
    ttl = "" if not table.ttl else f"AND a.known_ts >= a.t - to_microseconds({_us(table.ttl)})"
    on = lambda left, right: " AND ".join(  # noqa: E731
        f'{left}."{f}" = {right}."{e}"' for f, e in table.keys.items()
    )
    keys = ", ".join(f'"{k}"' for k in table.keys)
    features = ", ".join(f'f."{n}"' for n in table.features)
    read = ", ".join(f'"{c}"' for c in dict.fromkeys([*table.keys, *table.features]))
    sql = f"""
        WITH f AS (SELECT {read}, "{table.timestamp}" AS _ts FROM read_parquet('{table.path}')),
        stamps AS (SELECT DISTINCT {keys}, _ts FROM f),
        a AS (
            SELECT e.{ROW_ID} AS {ROW_ID}, e.{TIMESTAMP} AS t, s._ts AS known_ts,
                   {", ".join(f'e."{e}"' for e in table.keys.values())}
            FROM entities e ASOF LEFT JOIN stamps s ON {on("s", "e")} AND e.{TIMESTAMP} >= s._ts
        )
        SELECT a.{ROW_ID}, a.known_ts, {features}
        FROM a LEFT JOIN f ON {on("f", "a")} AND f._ts = a.known_ts {ttl}
    """
    try:
        return con.execute(sql).df()
    finally:
        con.unregister("entities")


def _us(delta: timedelta) -> int:
    return int(delta / timedelta(microseconds=1))


@dataclass(frozen=True)
class _Rows:
    """Where each of `known`'s rows is in the frame, and which row id it is one of: decided
    once per view, not once per feature."""

    at: np.ndarray  # position in the frame of each known row's row_id
    group: np.ndarray  # each known row's index into `ids`
    ids: np.ndarray  # the distinct row ids of `known`

    @classmethod
    def of(cls, frame: pd.DataFrame, known: pd.DataFrame) -> "_Rows":
        at = pd.Index(frame[ROW_ID]).get_indexer(known[ROW_ID])
        if (at < 0).any():
            raise DataError("the leakage guard found a row id that is not in the frame")
        group, ids = pd.factorize(known[ROW_ID].to_numpy())
        return cls(at, group, np.asarray(ids))


def _offending_rows(frame: pd.DataFrame, known: pd.DataFrame, name: str, rows: _Rows) -> list[int]:
    """Row ids whose value in `frame` matches none of the rows known at their time."""
    got_values = frame[name]
    if pd.api.types.is_numeric_dtype(got_values) or pd.api.types.is_bool_dtype(got_values):
        got = got_values.to_numpy("float64", na_value=np.nan)[rows.at]
        want = known[name].to_numpy("float64", na_value=np.nan)
        same = (np.isnan(got) & np.isnan(want)) | np.isclose(got, want, rtol=1e-12, atol=0)
    else:  # a category: equal strings, or missing on both sides
        got_text = got_values.astype("string").iloc[rows.at].reset_index(drop=True)
        want_text = known[name].astype("string").reset_index(drop=True)
        equal = (got_text == want_text).fillna(False).to_numpy(bool)
        same = equal | (got_text.isna() & want_text.isna()).to_numpy()
    ok = np.bincount(rows.group, weights=same, minlength=len(rows.ids)) > 0
    return sorted(int(row) for row in rows.ids[~ok])


def _example(
    con: "duckdb.DuckDBPyConnection",
    table: ViewTable,
    frame: pd.DataFrame,
    known: pd.DataFrame,
    name: str,
    row_id: int,
) -> str:
    row = frame.loc[frame[ROW_ID] == row_id].iloc[0]
    expected = known.loc[known[ROW_ID] == row_id].iloc[0]
    keys = ", ".join(f"{e}={row[e]}" for e in table.keys.values())
    text = (
        f"e.g. row_id {row_id} ({keys}) at {row[TIMESTAMP]:%Y-%m-%d %H:%M}Z has {name}="
        f"{row[name]}, but the value known then was {expected[name]} "
        f"(feature row of {_stamp(expected['known_ts'])})"
    )
    later = _first_later(con, table, row, name)
    if later is not None:
        text += f"; {row[name]} first appears at {_stamp(later)}, after the prediction time"
    return text + ". Build frames only through Feast's point-in-time retrieval."


def _first_later(con, table: ViewTable, row: pd.Series, name: str):
    """The earliest event timestamp after t of a feature row holding the frame's value."""
    if pd.isna(row[name]):
        return None
    where = " AND ".join(f'"{f}" = ?' for f in table.keys)
    sql = (
        f"SELECT min(\"{table.timestamp}\") FROM read_parquet('{table.path}') WHERE {where} "
        f'AND "{table.timestamp}" > ? AND abs(CAST("{name}" AS DOUBLE) - ?) <= 1e-9'
    )
    keys = [_plain(row[e]) for e in table.keys.values()]
    params = [*keys, row[TIMESTAMP], float(row[name])]
    found = con.execute(sql, params).fetchone()[0]
    return None if found is None or pd.isna(found) else found


def _plain(value):
    """A Python value for DuckDB (which takes no NumPy scalars as parameters)."""
    return value.item() if hasattr(value, "item") else value


def _stamp(value) -> str:
    return (
        "nothing (no row within the ttl)"
        if pd.isna(value)
        else f"{pd.Timestamp(value):%Y-%m-%d %H:%M}Z"
    )
