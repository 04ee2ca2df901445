"""`BulkSqliteOnlineStore`: a SQLite online store written in bulk, one row per entity and view.

Configure with `online_store: {type: stores.online.BulkSqliteOnlineStore, path: ...}`.

Stock Feast's SQLite store keeps a row per (entity, feature) holding a serialized ValueProto
and writes it with one `execute` per value. Here a view's table holds one row per entity: its
event and created times (UTC microseconds), a layout id, and one column per feature. The layout
(kept in `bulk__layouts`) names the features the row was written with and how each is encoded,
so a read returns exactly what stock Feast's reader returns for the same writes, including
features added to a view after the row was written (absent, as in stock Feast).

Writes are one `executemany` in one transaction per call: a failed or killed write leaves the
previous rows readable. An upsert only replaces a row whose (event time, created time) is not
newer than the incoming one, so an older row never overwrites a newer one, whatever the order
of the writes. The tables are named `bulk_<project>_<view>`, beside any tables of the stock
store in the same file, so switching between the two types never reads the other's layout.
"""

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from feast import Entity
from feast.feature_view import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from pydantic import StrictStr

from stores import codecs
from stores.duck import ident
from stores.errors import OnlineLayoutError, StoreError

LAYOUTS = "bulk__layouts"
FIXED = ("entity_key", "event_ts", "created_ts", "layout")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
READ_CHUNK = 5000  # entity keys per SELECT, well under SQLite's bound on parameters
NO_CREATED = -(2**63)  # sorts a row without a created time below any with one


class BulkSqliteOnlineStoreConfig(FeastConfigBaseModel):
    type: Literal["stores.online.BulkSqliteOnlineStore"] = "stores.online.BulkSqliteOnlineStore"
    path: StrictStr = "data/online.db"
    """The SQLite file, relative to the feature repo unless absolute."""


Fields = tuple[tuple[str, int, codecs.Decoder], ...]  # (feature, position in a row, decoder)
# Per requested feature: its decoder to Python (None: the stored value is the Python value;
# ABSENT: the row's layout lacks the feature).
Picks = tuple[Any, ...]
ABSENT = object()  # read_values: the row was written without this feature (stock: not found)
Row = tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]


class BulkSqliteOnlineStore(OnlineStore):
    def __init__(self) -> None:
        super().__init__()
        self._conn: sqlite3.Connection | None = None
        self._layouts: dict[int, list[tuple[str, str]]] = {}
        self._layout_ids: dict[str, int] = {}
        # The columns a read found (they change with the schema) -> positions of the entity
        # key, event time and layout, and layout id -> its features' positions and decoders.
        self._decoders: dict[tuple[str, ...], tuple[int, int, int, dict[int, Fields]]] = {}

    # -- connection and schema ------------------------------------------------------------

    def _connect(self, config: RepoConfig) -> sqlite3.Connection:
        if self._conn is None:
            path = _db_path(config)
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False)
            # WAL: the server keeps reading the previous state while a materialization writes.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {LAYOUTS} (id INTEGER PRIMARY KEY, spec TEXT UNIQUE)"
            )
            conn.commit()
            self._conn = conn
        return self._conn

    def _ensure_table(self, conn: sqlite3.Connection, name: str, features: Sequence[str]) -> None:
        # Feature columns have no declared type, so SQLite stores each value as given.
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {ident(name)} (entity_key BLOB PRIMARY KEY, "
            "event_ts INTEGER NOT NULL, created_ts INTEGER, layout INTEGER NOT NULL)"
        )
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({ident(name)})")}
        if not set(FIXED) <= present:
            raise OnlineLayoutError(
                f"table {name} lacks the columns {sorted(set(FIXED) - present)}: it was not "
                "written by BulkSqliteOnlineStore; point the store at a new path"
            )
        for feature in features:
            if _column(feature) not in present:
                conn.execute(f"ALTER TABLE {ident(name)} ADD COLUMN {ident(_column(feature))}")

    def _layout_id(self, conn: sqlite3.Connection, spec: list[tuple[str, str]]) -> int:
        text = json.dumps(spec)
        if text not in self._layout_ids:
            conn.execute(f"INSERT OR IGNORE INTO {LAYOUTS} (spec) VALUES (?)", (text,))
            (found,) = conn.execute(f"SELECT id FROM {LAYOUTS} WHERE spec = ?", (text,)).fetchone()
            self._layout_ids[text] = found
            self._layouts[found] = spec
        return self._layout_ids[text]

    def _layout(self, conn: sqlite3.Connection, layout: int) -> list[tuple[str, str]]:
        if layout not in self._layouts:  # written by another process since we last looked
            for found, text in conn.execute(f"SELECT id, spec FROM {LAYOUTS}"):
                self._layouts[found] = [tuple(pair) for pair in json.loads(text)]
        return self._layouts[layout]

    # -- writes ---------------------------------------------------------------------------

    def write_arrow(self, config: RepoConfig, view: FeatureView, table: pa.Table) -> None:
        """Write the latest row per entity of `table` (join keys, features, timestamps) in one
        transaction, converting column by column instead of value by value."""
        source = view.batch_source
        if source is None:
            raise StoreError(f"feature view {view.name!r} has no batch source for its timestamps")
        keys = codecs.entity_keys(
            {f.name: (table[f.name], f.dtype.to_value_type()) for f in view.entity_columns},
            config.entity_key_serialization_version,
        )
        encoded = [
            codecs.column_values(table[f.name], f.dtype.to_value_type()) for f in view.features
        ]
        spec = [(f.name, codec) for f, (codec, _) in zip(view.features, encoded, strict=True)]
        created = source.created_timestamp_column
        with_created = created and created in table.column_names
        rows = zip(
            keys,
            _micros(table[source.timestamp_field]),
            _micros(table[created]) if with_created else repeat(None),
            *(values for _, values in encoded),
            strict=False,  # repeat() is endless; the other columns have one value per row
        )
        self._upsert(config, view, spec, rows)

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[Row],
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Feast's protobuf write path (push, write_to_online_store, other engines): values are
        kept as serialized ValueProtos, still one row per entity and one transaction."""
        version = config.entity_key_serialization_version
        by_features: dict[tuple[str, ...], list[tuple]] = {}
        for key, values, ts, created in data:
            row = (
                serialize_entity_key(key, entity_key_serialization_version=version),
                _datetime_micros(ts),
                None if created is None else _datetime_micros(created),
                *(v.SerializeToString() for v in values.values()),
            )
            by_features.setdefault(tuple(values), []).append(row)
        for names, rows in by_features.items():
            self._upsert(config, table, [(n, codecs.PROTO) for n in names], rows)
        if progress:
            progress(len(data))

    def _upsert(self, config: RepoConfig, view: FeatureView, spec, rows) -> None:
        conn = self._connect(config)
        name = table_name(config, view)
        columns = list(FIXED) + [_column(feature) for feature, _ in spec]
        updates = ", ".join(f"{ident(c)} = excluded.{ident(c)}" for c in columns[1:])
        sql = (
            f"INSERT INTO {ident(name)} ({', '.join(map(ident, columns))}) "
            f"VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT(entity_key) DO UPDATE SET {updates} "
            f"WHERE (excluded.event_ts, coalesce(excluded.created_ts, {NO_CREATED})) "
            f">= (event_ts, coalesce(created_ts, {NO_CREATED}))"
        )
        with conn:  # one transaction: all rows or, on any error, none
            self._ensure_table(conn, name, [feature for feature, _ in spec])
            layout = self._layout_id(conn, spec)
            conn.executemany(sql, ((r[0], r[1], r[2], layout, *r[3:]) for r in rows))

    # -- reads ----------------------------------------------------------------------------

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        wanted = codecs.serialized_keys(entity_keys, config.entity_key_serialization_version)
        found: dict[bytes, tuple[datetime, dict[str, ValueProto]]] = {}
        for start in range(0, len(wanted), READ_CHUNK):
            found.update(self._read_chunk(config, table, wanted[start : start + READ_CHUNK]))
        return [found.get(key, (None, None)) for key in wanted]

    def values_reader(
        self, config: RepoConfig, view: FeatureView, features: Sequence[str]
    ) -> "ValuesReader":
        """A reader of `features` of `view` by serialized entity key, built once and kept by
        the caller (the server's read plans): it answers the values `online_read` gives, as
        the Python values Feast's response holds, without a ValueProto per value."""
        return ValuesReader(self, config, view, tuple(features))

    def joined_reader(self, readers: Sequence["ValuesReader"]) -> "JoinedReader":
        """One query for one entity of each of `readers` (built by `values_reader`)."""
        return JoinedReader(self, readers)

    def newest_event(self, config: RepoConfig, view: FeatureView) -> datetime | None:
        """The latest event timestamp stored for the view (None: nothing stored yet)."""
        sql = f"SELECT max(event_ts) FROM {ident(table_name(config, view))}"
        cursor = _select(self._connect(config), sql)
        micros = None if cursor is None else cursor.fetchone()[0]
        return None if micros is None else EPOCH + timedelta(microseconds=micros)

    def _read_chunk(self, config, view, keys: list[bytes]):
        conn = self._connect(config)
        cursor = _select(
            conn,
            f"SELECT * FROM {ident(table_name(config, view))} "
            f"WHERE entity_key IN ({','.join('?' * len(keys))})",
            keys,
        )
        return {} if cursor is None else self._decode(conn, cursor)

    def _decode(self, conn, cursor) -> dict[bytes, tuple[datetime, dict[str, ValueProto]]]:
        columns = tuple([d[0] for d in cursor.description])
        known = self._decoders.get(columns)
        if known is None:
            key_at, event_at, layout_at = map(columns.index, ("entity_key", "event_ts", "layout"))
            known = self._decoders[columns] = (key_at, event_at, layout_at, {})
        key_at, event_at, layout_at, by_layout = known
        found = {}
        for row in cursor:
            fields = by_layout.get(layout := row[layout_at])
            if fields is None:
                fields = by_layout[layout] = _fields(columns, self._layout(conn, layout))
            values = {feature: decode(row[at]) for feature, at, decode in fields}
            found[row[key_at]] = (whole_seconds(row[event_at]), values)
        return found

    # -- infrastructure -------------------------------------------------------------------

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        conn = self._connect(config)
        with conn:
            for view in tables_to_keep:
                self._ensure_table(conn, table_name(config, view), [f.name for f in view.features])
            for view in tables_to_delete:
                conn.execute(f"DROP TABLE IF EXISTS {ident(table_name(config, view))}")

    def plan(self, config: RepoConfig, desired_registry_proto) -> list:
        return []  # the tables are created by update(); there is no separate infra to diff

    def teardown(self, config: RepoConfig, tables: Sequence[FeatureView], entities) -> None:
        conn = self._connect(config)
        with conn:
            for view in tables:
                conn.execute(f"DROP TABLE IF EXISTS {ident(table_name(config, view))}")


class ValuesReader:
    """Reads one view's features by serialized entity key: one SELECT of exactly the key, the
    event time, the layout and the wanted features, with each row decoded by its layout's
    codecs (a feature its layout lacks is ABSENT, as stock Feast answers it not found)."""

    def __init__(
        self, store: BulkSqliteOnlineStore, config: RepoConfig, view: FeatureView, features
    ) -> None:
        self._store, self._config, self.features = store, config, features
        self._table = ident(table_name(config, view))
        self._head = ""  # "SELECT ... FROM table WHERE entity_key", once the table exists
        self._lacking = False  # some feature has no column yet
        self._picked: list[str] = []
        self._sql: dict[int, str] = {}  # key count -> statement
        self._picks: dict[int, Picks | None] = {}  # layout -> its picks (None: no decoding)

    def __call__(self, keys: Sequence[bytes]) -> dict[bytes, tuple[int, tuple[Any, ...]]]:
        """key -> (event time in UTC microseconds, the features' values); keys not stored are
        left out."""
        found: dict[bytes, tuple[int, tuple[Any, ...]]] = {}
        for start in range(0, len(keys), READ_CHUNK):
            chunk = keys[start : start + READ_CHUNK]
            for row in self._rows(chunk):
                found[row[0]] = (row[1], self._values(row))
        return found

    def one(self, key: bytes) -> tuple[int, tuple[Any, ...]] | None:
        """One key's (event time, values), or None when it is not stored."""
        for row in self._rows((key,)):
            return row[1], self._values(row)
        return None

    def _rows(self, keys: Sequence[bytes]) -> Any:
        sql = self._sql.get(len(keys))
        if sql is None or self._lacking:
            if (not self._head or self._lacking) and not self._prepare():
                return ()  # applied but never materialized: nothing stored yet
            where = " = ?" if len(keys) == 1 else f" IN ({','.join('?' * len(keys))})"
            sql = self._sql[len(keys)] = self._head + where
        try:
            return self._store._connect(self._config).execute(sql, keys)
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            self._head, self._sql = "", {}  # dropped under us: look again next time
            return ()

    def _prepare(self) -> bool:
        conn = self._store._connect(self._config)
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({self._table})")}
        if not present:
            return False
        if not {"entity_key", "event_ts", "layout"} <= present:
            raise OnlineLayoutError(
                f"table {self._table} lacks the columns "
                f"{sorted({'entity_key', 'event_ts', 'layout'} - present)}: it was not written "
                "by BulkSqliteOnlineStore; point the store at a new path"
            )
        # A feature with no column was never written: NULL, and ABSENT by every layout. Until
        # another writer adds its column, each read looks at the table again.
        picked = [ident(_column(f)) if _column(f) in present else "NULL" for f in self.features]
        self._lacking = "NULL" in picked
        self._picked, self._sql = picked, {}
        self._head = (
            f"SELECT entity_key, event_ts, layout{''.join(', ' + c for c in picked)} "
            f"FROM {self._table} WHERE entity_key"
        )
        return True

    def _values(self, row: tuple) -> tuple[Any, ...]:
        return self.decoded(row[2], row[3:])

    def decoded(self, layout: int, stored: tuple[Any, ...]) -> tuple[Any, ...]:
        """The features' Python values from a row's stored ones, by the row's layout."""
        if layout in self._picks:
            picks = self._picks[layout]
        else:
            picks = self._picks[layout] = self._layout_picks(layout)
        if picks is None:
            return stored
        return tuple(
            [
                ABSENT if decode is ABSENT else v if decode is None else decode(v)
                for v, decode in zip(stored, picks, strict=True)
            ]
        )

    def columns(self) -> list[str] | None:
        """The selected feature columns (quoted; NULL for one not written yet), or None when
        the table does not exist yet."""
        if (not self._head or self._lacking) and not self._prepare():
            return None
        return self._picked

    def _layout_picks(self, layout: int) -> Picks | None:
        codec = dict(self._store._layout(self._store._connect(self._config), layout))
        picks = tuple(
            ABSENT if f not in codec else codecs.python_decoder(codec[f]) for f in self.features
        )
        return None if all(p is None for p in picks) else picks


class JoinedReader:
    """Several views' rows for one entity each, in one SELECT: a LEFT JOIN per view on its
    key, from a one-row table, so a request that reads a dozen views makes one query, and
    reads them all from one snapshot of the file. Until every view's table exists with all
    its columns, each view is read on its own (the same answers)."""

    def __init__(self, store: BulkSqliteOnlineStore, parts: Sequence[ValuesReader]) -> None:
        self._store, self._parts = store, list(parts)
        self._sql = ""
        self._spans: list[tuple[int, int]] = []  # per part: where its event time, then its
        # layout and values, sit in the joined row

    def one(self, keys: Sequence[bytes]) -> list[tuple[int, tuple[Any, ...]] | None]:
        """Per part, its key's (event time in UTC microseconds, values), or None."""
        if not self._sql and not self._prepare():
            return [part.one(key) for part, key in zip(self._parts, keys, strict=True)]
        try:
            row = self._store._connect(self._parts[0]._config).execute(self._sql, keys).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such" not in str(exc):
                raise
            self._sql = ""  # a table dropped or rebuilt under us: look again next time
            return [part.one(key) for part, key in zip(self._parts, keys, strict=True)]
        found: list[tuple[int, tuple[Any, ...]] | None] = []
        for part, (start, end) in zip(self._parts, self._spans, strict=True):
            event = row[start]
            found.append(
                None
                if event is None
                else (event, part.decoded(row[start + 1], row[start + 2 : end]))
            )
        return found

    def _prepare(self) -> bool:
        selected, joins, spans, at = [], [], [], 0
        for i, part in enumerate(self._parts):
            columns = part.columns()
            if columns is None or part._lacking:
                return False
            alias = f"t{i}"
            picked = [f"{alias}.event_ts", f"{alias}.layout"] + [f"{alias}.{c}" for c in columns]
            selected += picked
            joins.append(f"LEFT JOIN {part._table} {alias} ON {alias}.entity_key = ?")
            spans.append((at, at + len(picked)))
            at += len(picked)
        self._sql = f"SELECT {', '.join(selected)} FROM (SELECT 1) {' '.join(joins)}"
        self._spans = spans
        return True


def _select(conn: sqlite3.Connection, sql: str, params=()) -> sqlite3.Cursor | None:
    """The query's cursor, or None when the view's table does not exist (applied but never
    materialized: nothing stored)."""
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise


def table_name(config: RepoConfig, view: FeatureView) -> str:
    versioned = config.registry.enable_online_feature_view_versioning
    return "bulk_" + compute_table_id(config.project, view, versioned)


def _db_path(config: RepoConfig) -> Path:
    path = Path(config.online_store.path)
    return path if path.is_absolute() or not config.repo_path else Path(config.repo_path) / path


def _column(feature: str) -> str:
    return f"v:{feature}"  # the prefix keeps features apart from the fixed columns


def _fields(columns: tuple[str, ...], spec: list[tuple[str, str]]) -> Fields:
    position = {column: i for i, column in enumerate(columns)}
    return tuple((f, position[_column(f)], codecs.decoder(codec)) for f, codec in spec)


def _micros(column: pa.ChunkedArray) -> list[int | None]:
    # Naive timestamps are UTC; the store never reads the process's local zone.
    return pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64()).to_pylist()


def _datetime_micros(value: datetime) -> int:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return (value - EPOCH) // timedelta(microseconds=1)


@lru_cache(maxsize=16384)  # immutable, and a server reads the same rows again and again
def whole_seconds(micros: int) -> datetime:
    # Stock Feast stores whole seconds (int(ts.timestamp()), toward zero); reads match it.
    seconds = abs(micros) // 1_000_000
    return EPOCH + timedelta(seconds=seconds if micros >= 0 else -seconds)
