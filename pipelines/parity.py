"""Online = offline: after materializing up to T, each entity's online values must equal the
offline point-in-time values at T. The materialize stage runs this after every run, on every
batch feature view of the registry: entities are sampled from each view's own offline table,
and the views keyed alike are read together (one online and one offline read per key set)."""

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import polars as pl

SHOWN = 5  # mismatches `describe` lists


@dataclass(frozen=True)
class Mismatch:
    entity: dict[str, Any]
    feature: str  # `view__feature`
    online: Any
    offline: Any


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _equal(a: Any, b: Any) -> bool:
    return (_missing(a) and _missing(b)) or (not _missing(a) and not _missing(b) and a == b)


def keyed_alike(store) -> dict[tuple[str, ...], list]:
    """The registry's batch feature views, by their join keys."""
    groups: dict[tuple[str, ...], list] = {}
    for view in store.list_feature_views():
        if view.features and view.entity_columns:
            keys = tuple(c.name for c in view.entity_columns)
            groups.setdefault(keys, []).append(view)
    return groups


def entity_keys(views: list, keys: tuple[str, ...], sample: int | None, seed: int) -> pl.DataFrame:
    """Distinct key rows of the views' offline tables, optionally a sample of them."""
    found = [
        pl.scan_parquet(path).select(keys)
        for view in views
        if (path := getattr(view.batch_source, "path", None)) and "://" not in path
    ]
    if not found:
        return pl.DataFrame(schema=dict.fromkeys(keys, pl.String))
    rows = pl.concat(found).unique().drop_nulls().collect().sort(keys)
    return rows if sample is None or sample >= rows.height else rows.sample(sample, seed=seed)


def compare(store, views: list, keys: pl.DataFrame, at: datetime) -> list[Mismatch]:
    """Every feature of the views for the given key rows, online against offline at `at`.

    Online values older than their view's ttl at `at` count as missing, as the server serves
    them and as the offline lookup finds them: Feast's online read keeps returning a value
    after its ttl has passed (the store holds each entity's last row until a newer one lands).
    """
    refs = [f"{v.name}:{f.name}" for v in views for f in v.features]
    names = [f"{v.name}__{f.name}" for v in views for f in v.features]
    rows = keys.to_dicts()
    online = store.get_online_features(
        features=refs, entity_rows=rows, full_feature_names=True
    ).to_dict(include_event_timestamps=True)
    _expire(online, views, at)
    entities = keys.to_pandas().assign(event_timestamp=pd.Timestamp(at))
    offline = store.get_historical_features(
        entity_df=entities, features=refs, full_feature_names=True
    ).to_df()
    offline = entities[list(keys.columns)].merge(offline, on=list(keys.columns), how="left")
    return [
        Mismatch(rows[i], name, a, b)
        for name in names
        for i, (a, b) in enumerate(zip(online[name], offline[name], strict=True))
        if not _equal(a, b)
    ]


def _expire(online: dict[str, list], views: list, at: datetime) -> None:
    """Null each view's values older than its ttl at `at`. Feast gives every feature of a view
    the same timestamps (its row's), so the first feature's `__ts` stands for the view's."""
    for view in views:
        if not view.ttl or not view.features:
            continue
        oldest = (at - view.ttl).timestamp()
        stamps = online[f"{view.name}__{view.features[0].name}__ts"]
        stale = [i for i, seconds in enumerate(stamps) if seconds and seconds < oldest]
        for feature in view.features:
            values = online[f"{view.name}__{feature.name}"]
            for i in stale:
                values[i] = None


def check(store, at: datetime, sample: int | None, seed: int = 0) -> tuple[int, list[Mismatch]]:
    """Sampled entities of every feature view compared online against offline at `at`: how
    many entity keys were compared, and the mismatches."""
    compared, found = 0, []
    for key_names, views in keyed_alike(store).items():
        keys = entity_keys(views, key_names, sample, seed)
        if keys.height:
            compared += keys.height
            found += compare(store, views, keys, at)
    return compared, found


def describe(mismatches: list[Mismatch]) -> str:
    return "; ".join(
        f"{m.entity} {m.feature}: online {m.online} != offline {m.offline}"
        for m in mismatches[:SHOWN]
    )
