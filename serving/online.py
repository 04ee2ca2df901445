"""The fast read path: what Feast's `get_online_features` answers, minus its overhead, plus ttl.

A read is planned once per (features, full names) from the registry: which views, which join
keys, which features. Each request then calls the online store's own `online_read` once per
view (Feast's OnlineStore interface, so the SQLite store and any plugin store both work),
computes on-demand views with their own transformations (from the request, and from the
features of the views they read, read first), and marks values older than their view's ttl
at the reference time as OUTSIDE_MAX_AGE with the value withheld. Feast's own server ignores the
ttl online (feast-dev/feast#6821) and refuses to serve a view while it is MATERIALIZING; this
path does neither. Everything else (names, order of views, statuses, join keys echoed first)
is what Feast answers, which tests check view by view.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from feast import FeatureService, FeatureStore, FeatureView, OnDemandFeatureView
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.value_type import ValueType

from serving.errors import BadReadError
from serving.request_features import RequestTransform, request_transform, sources
from stores import codecs
from stores.codecs import proto_python
from stores.feast_private import online_store, provider
from stores.online import ABSENT, whole_seconds

PRESENT, NOT_FOUND, STALE = "PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"


@dataclass(frozen=True)
class ViewRead:
    """One feature view of a plan: the request columns that key it and the features wanted."""

    view: FeatureView
    columns: tuple[str, ...]  # request columns, in the view's join-key order
    join_keys: tuple[str, ...]  # the view's own join keys, as stored
    types: tuple[ValueType, ...]
    features: tuple[str, ...]
    names: tuple[str, ...]  # the features as the response names them
    ttl_s: float | None
    hidden: bool = False  # read only as the input of an on-demand view, not answered


@dataclass(frozen=True)
class RequestRead:
    """One on-demand view of a plan, computed from request columns and the features of the
    (hidden) view reads named in `sources`."""

    view: OnDemandFeatureView
    transform: RequestTransform
    features: tuple[str, ...]
    names: tuple[str, ...]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    views: tuple[ViewRead, ...]
    requested: tuple[RequestRead, ...]
    # Feast echoes every request column that is the join key of any entity in the registry.
    echoed: frozenset[str] = frozenset()

    @property
    def join_keys(self) -> set[str]:
        return {column for read in self.views for column in read.columns}

    @property
    def feature_names(self) -> list[str]:
        answered: list[ViewRead | RequestRead] = [read for read in self.views if not read.hidden]
        return [n for read in (*answered, *self.requested) for n in read.names]


@dataclass(slots=True)
class Column:
    """One feature over the request's rows; statuses are Feast's FieldStatus names."""

    name: str
    view: str
    values: list[Any]
    statuses: list[str]
    timestamps: list[datetime | None]


@dataclass
class Answer:
    columns: list[Column] = field(default_factory=list)
    ages: dict[str, float] = field(default_factory=dict)  # view: oldest age served, seconds

    def by_name(self) -> dict[str, Column]:
        return {column.name: column for column in self.columns}

    def oldest(self, view: str, age: float) -> None:
        """Note a read of `view` whose oldest value is `age` seconds old: a plan may read one
        view twice, under two keys (a projection per key), and the oldest of both stands."""
        ages = self.ages
        if age > ages.get(view, age - 1.0):
            ages[view] = age


def plan_for(store: FeatureStore, features: FeatureService | Sequence[str], full: bool) -> Plan:
    """Resolve a FeatureService or `view:feature` references against the registry."""
    wanted: dict[str, list[str]] = {}
    projections: dict[str, Any] = {}
    if isinstance(features, FeatureService):
        for projection in features.feature_view_projections:
            wanted[projection.name] = [f.name for f in projection.features]
            projections[projection.name] = projection
    else:
        for ref in features:
            view, sep, name = ref.partition(":")
            if not (sep and view and name):
                raise BadReadError(f"feature {ref!r} is not of the form 'view:feature'")
            wanted.setdefault(view, []).append(name)
    reads = [
        _read(store, view, names, projections.get(view), full) for view, names in wanted.items()
    ]
    requested = tuple(r for r in reads if isinstance(r, RequestRead))
    hidden = {
        name: replace(_read(store, name, features, None, False), hidden=True)
        for read in requested
        for name, features in sources(read.view).items()
    }
    return Plan(
        views=(*(r for r in reads if isinstance(r, ViewRead)), *hidden.values()),
        requested=requested,
        echoed=frozenset(e.join_key for e in store.list_entities(allow_cache=True)),
    )


def _read(store, name: str, features: list[str], projection, full: bool):
    view = _find_view(store, name)
    if projection is not None:
        view = view.with_projection(projection)
    known = {f.name for f in view.features}
    unknown = [f for f in features if f not in known]
    if unknown:
        raise BadReadError(f"view {name!r} has no feature(s) {unknown}; it has {sorted(known)}")
    prefix = view.projection.name_to_use()
    names = tuple(f"{prefix}__{f}" if full else f for f in features)
    if isinstance(view, OnDemandFeatureView):
        read_from = tuple(sources(view))
        return RequestRead(view, request_transform(view), tuple(features), names, read_from)
    keys = tuple(c.name for c in view.entity_columns)
    mapping = view.projection.join_key_map or {}
    ttl = view.ttl.total_seconds() if view.ttl else None
    return ViewRead(
        view=view,
        columns=tuple(mapping.get(k, k) for k in keys),
        join_keys=keys,
        types=tuple(c.dtype.to_value_type() for c in view.entity_columns),
        features=tuple(features),
        names=names,
        ttl_s=ttl,
    )


def _find_view(store: FeatureStore, name: str):
    from feast.errors import FeatureViewNotFoundException, OnDemandFeatureViewNotFoundException

    for get in (store.get_feature_view, store.get_on_demand_feature_view):
        try:
            return get(name, allow_registry_cache=True)
        except (FeatureViewNotFoundException, OnDemandFeatureViewNotFoundException):
            continue
    raise BadReadError(f"the registry has no feature view {name!r}: see `feast feature-views list`")


Cell = tuple[tuple[Any, ...], tuple[str, ...]]  # one entity's values and statuses in a view
Found = tuple[datetime | None, float | None, Cell | None]  # (timestamp, its epoch seconds, cell)
_NOT_STORED: Found = (None, None, None)


class OnlineReader:
    """Reads plans through the store's provider; holds no state between requests."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self._provider = provider(store)
        # The platform's own SQLite store answers Python values by serialized key directly
        # (BulkSqliteOnlineStore.values_reader); any other store is read through Feast's
        # OnlineStore interface, one EntityKey and ValueProto per value.
        direct = getattr(online_store(store), "values_reader", None)
        version = store.config.entity_key_serialization_version
        self._direct = direct if direct is not None and version == 3 else None
        self._directs: dict[int, _Direct] = {}  # id of a ViewRead -> its reader
        self._joins: dict[int, tuple[Plan, Any]] = {}  # id of a Plan -> (it, its joined reader)
        self._joiner = getattr(online_store(store), "joined_reader", None) if self._direct else None

    def read(
        self, plan: Plan, entities: Mapping[str, Sequence[Any]], as_of: Sequence[float]
    ) -> Answer:
        """Every planned feature for each row of `entities` (columnar, as Feast takes them).

        `as_of` holds one reference time (epoch seconds) per row, or one for all rows.
        """
        rows = _row_count(plan, entities)
        answer = Answer()
        inputs: dict[str, dict[str, list]] = {}  # hidden view -> feature -> values
        read_all: Iterable[list[Column]]
        if rows == 1 and self._joiner and len(plan.views) > 1:
            read_all = self._joined(plan, entities, as_of[0], answer)
        else:
            read_all = (self._read_view(read, entities, rows, as_of, answer) for read in plan.views)
        for read, columns in zip(plan.views, read_all, strict=True):
            if read.hidden:
                inputs[read.view.name] = {
                    c: column.values for c, column in zip(read.features, columns, strict=True)
                }
            else:
                answer.columns.extend(columns)
        for request in plan.requested:
            given = {f: v for source in request.sources for f, v in inputs[source].items()}
            computed = request.transform(entities, rows, given)
            for feature, name in zip(request.features, request.names, strict=True):
                answer.columns.append(
                    Column(
                        name, request.view.name, computed[feature], [PRESENT] * rows, [None] * rows
                    )
                )
        return answer

    def _read_view(
        self, read: ViewRead, entities, rows: int, as_of, answer: Answer
    ) -> list[Column]:
        if rows == 1 and self._direct:
            return self._read_one(read, entities, as_of[0], answer)
        # Every column has `rows` values (checked by _row_count).
        keys = list(zip(*(entities[c] for c in read.columns), strict=True)) if rows else []
        unique = list(dict.fromkeys(keys))
        # Decoded once per distinct entity: a batch often repeats one.
        found = self._found_direct(read, unique) if self._direct else self._found(read, unique)
        width = len(read.features)
        missing, stale = _missing(width), _stale(width)
        stamps, cells, oldest = [], [], None
        for i, key in enumerate(keys):
            ts, seconds, cell = found[key]
            if cell is None:
                cell = missing
            elif read.ttl_s is not None:
                age = as_of[i if len(as_of) > 1 else 0] - seconds
                oldest = age if oldest is None or age > oldest else oldest
                if age > read.ttl_s:
                    cell = stale
            stamps.append(ts)
            cells.append(cell)
        if oldest is not None:
            answer.oldest(read.view.name, oldest)
        # Transposed: one tuple per feature over the rows (none at all when there are no rows).
        values = zip(*(cell[0] for cell in cells), strict=True) if cells else [()] * width
        statuses = zip(*(cell[1] for cell in cells), strict=True) if cells else [()] * width
        return [
            Column(name, read.view.name, list(vs), list(ss), stamps)
            for name, vs, ss in zip(read.names, values, statuses, strict=True)
        ]

    def _joined(self, plan: Plan, entities, as_of: float, answer: Answer) -> list[list[Column]]:
        """Every view of the plan for one row, from one query of the platform's store."""
        directs = [self._direct_for(read) for read in plan.views]
        joined = self._joins.get(id(plan))
        if joined is None or joined[0] is not plan:
            assert self._joiner is not None
            reader = self._joiner([d.values for d in directs])
            joined = self._joins[id(plan)] = (plan, reader)
        keys = [
            d.key_bytes(tuple([entities[c][0] for c in read.columns]))
            for d, read in zip(directs, plan.views, strict=True)
        ]
        rows = joined[1].one(keys)
        return [
            self._one_columns(read, row, as_of, answer)
            for read, row in zip(plan.views, rows, strict=True)
        ]

    def _read_one(self, read: ViewRead, entities, as_of: float, answer: Answer) -> list[Column]:
        """`_read_view` for one row from the platform's store: a request for one entity."""
        direct = self._direct_for(read)
        row = direct.values.one(direct.key_bytes(tuple([entities[c][0] for c in read.columns])))
        return self._one_columns(read, row, as_of, answer)

    def _one_columns(self, read: ViewRead, row, as_of: float, answer: Answer) -> list[Column]:
        width, view = len(read.features), read.view.name
        if row is None:
            ts, cell = None, _missing(width)
        else:
            ts, seconds, cell = _direct_cell(*row)
            if read.ttl_s is not None:
                age = as_of - seconds
                answer.oldest(view, age)
                if age > read.ttl_s:
                    cell = _stale(width)
        stamps = [ts]
        return [
            Column(name, view, [value], [status], stamps)
            for name, value, status in zip(read.names, cell[0], cell[1], strict=True)
        ]

    def _found(self, read: ViewRead, unique: list[tuple]) -> dict[tuple, Found]:
        protos = [_known_entity_key(read, key) for key in unique]
        records = self._provider.online_read(
            self.store.config, read.view, protos, list(read.features)
        )
        return {
            key: _decoded(read.features, ts, data)
            for key, (ts, data) in zip(unique, records, strict=True)
        }

    def _found_direct(self, read: ViewRead, unique: list[tuple]) -> dict[tuple, Found]:
        direct = self._direct_for(read)
        serialized = [direct.key_bytes(key) for key in unique]
        rows = direct.values(serialized)
        found: dict[tuple, Found] = {}
        for key, wanted in zip(unique, serialized, strict=True):
            row = rows.get(wanted)
            found[key] = _NOT_STORED if row is None else _direct_cell(*row)
        return found

    def _direct_for(self, read: ViewRead) -> "_Direct":
        known = self._directs.get(id(read))
        if known is None or known.read is not read:  # the read it was built for, not a later one
            assert self._direct is not None
            values = self._direct(self.store.config, read.view, read.features)
            known = self._directs[id(read)] = _Direct(read, values)
        return known


class _Direct:
    """One view read's store reader, and the serialized keys of the entities it has read."""

    def __init__(self, read: ViewRead, values: Any) -> None:
        self.read, self.values = read, values
        self._keys: dict[tuple, bytes] = {}

    def key_bytes(self, key: tuple) -> bytes:
        # Keyed with the values' types too, since 1 == 1.0 == True.
        typed = (key, tuple(map(type, key)))
        found = self._keys.get(typed)
        if found is None:
            read = self.read
            for value, kind, column in zip(key, read.types, read.columns, strict=True):
                _value(value, kind, column)  # the same check, and error, as the EntityKey path
            if len(self._keys) >= KEY_MEMORY:
                self._keys.clear()
            found = self._keys[typed] = codecs.entity_key(read.join_keys, read.types, key)
        return found


KEY_MEMORY = 65536  # serialized keys a view read remembers (a server reads the same ones)


def _direct_cell(micros: int, stored: tuple[Any, ...]) -> tuple[datetime, float, Cell]:
    """A stored row's (timestamp, its epoch seconds, cell), ABSENT features not found."""
    ts, seconds = _stamp(micros)
    if ABSENT in stored:
        values = tuple([None if v is ABSENT else v for v in stored])
        statuses = tuple([NOT_FOUND if v is ABSENT else PRESENT for v in stored])
    else:
        values, statuses = stored, _present(len(stored))
    return ts, seconds, (values, statuses)


@lru_cache(maxsize=16384)  # a server reads the same rows again and again
def _stamp(micros: int) -> tuple[datetime, float]:
    ts = whole_seconds(micros)
    return ts, ts.timestamp()


@lru_cache(maxsize=64)
def _present(width: int) -> tuple[str, ...]:
    return (PRESENT,) * width


@lru_cache(maxsize=64)
def _missing(width: int) -> Cell:
    return (None,) * width, (NOT_FOUND,) * width


@lru_cache(maxsize=64)
def _stale(width: int) -> Cell:
    return (None,) * width, (STALE,) * width


def _decoded(
    features: Sequence[str], ts: datetime | None, data: Mapping[str, Value] | None
) -> tuple[datetime | None, float | None, Cell | None]:
    """(timestamp, as epoch seconds, cell); the cell is None when the entity is not stored."""
    if data is None:
        return ts, None, None
    protos = [data.get(feature) for feature in features]
    unset = not any(proto and proto.WhichOneof("val") for proto in protos)
    if unset and ts is not None and ts.timestamp() == 0:
        # Feast's redis store answers a key it never stored as stored at the epoch with every
        # value unset; no row the platform writes looks like that.
        return None, None, None
    values = tuple([None if proto is None else proto_python(proto) for proto in protos])
    statuses = tuple([NOT_FOUND if proto is None else PRESENT for proto in protos])
    return ts, None if ts is None else ts.timestamp(), (values, statuses)


def _known_entity_key(read: ViewRead, key: tuple) -> EntityKey:
    """`entity_key`, remembered: building the protobuf costs more than the lookup. Read only
    by the store, never changed. Keyed with the values' types, since 1 == 1.0 == True."""
    typed = tuple((type(value), value) for value in key)
    return _cached_entity_key(read.join_keys, read.types, read.columns, typed)


@lru_cache(maxsize=65536)
def _cached_entity_key(
    join_keys: tuple[str, ...], types: tuple[ValueType, ...], columns: tuple[str, ...], typed
) -> EntityKey:
    return _key(join_keys, types, columns, [v for _, v in typed])


def entity_key(read: ViewRead, key: tuple) -> EntityKey:
    return _key(read.join_keys, read.types, read.columns, key)


def _key(
    join_keys: Sequence[str],
    types: Sequence[ValueType],
    columns: Sequence[str],
    values: Sequence[Any],
) -> EntityKey:
    return EntityKey(
        join_keys=list(join_keys),
        entity_values=[_value(v, t, c) for v, t, c in zip(values, types, columns, strict=True)],
    )


def _value(value: Any, kind: ValueType, column: str) -> Value:
    if kind == ValueType.STRING and isinstance(value, str):
        return Value(string_val=value)
    if kind in (ValueType.INT64, ValueType.INT32) and _is_int(value):
        return Value(int64_val=value) if kind == ValueType.INT64 else Value(int32_val=value)
    raise BadReadError(f"entities.{column} holds {value!r}, but its join key is {kind.name}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def _row_count(plan: Plan, entities: Mapping[str, Sequence[Any]]) -> int:
    needed = plan.join_keys | {c for r in plan.requested for c in r.transform.inputs}
    missing = sorted(needed - set(entities))
    if missing:
        raise BadReadError(f"entities lacks {missing}, needed by the requested features")
    lengths = {len(entities[c]) for c in needed} or {len(v) for v in entities.values()}
    if len(lengths) > 1:
        raise BadReadError(f"entities columns have different lengths {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def now() -> float:
    return datetime.now(UTC).timestamp()


Transform = Callable[[Mapping[str, Sequence[Any]], int, Mapping], dict[str, list[Any]]]
