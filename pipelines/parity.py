"""Online = offline: after materializing up to T, each entity's online values must equal the
offline point-in-time values at T. The materialize stage runs this on every entity it loaded."""

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import polars as pl

VIEWS = ("aircraft_history", "carrier_performance", "origin_weather")
KEYS = ("tailnum", "carrier", "origin")
SHOWN = 5  # mismatches `describe` lists


@dataclass(frozen=True)
class Mismatch:
    entity: dict[str, Any]
    feature: str
    online: Any
    offline: Any


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _equal(a: Any, b: Any) -> bool:
    return (_missing(a) and _missing(b)) or (not _missing(a) and not _missing(b) and a == b)


def compare(store, keys: pl.DataFrame, at: datetime) -> list[Mismatch]:
    """Every feature of every view for the given key rows, online against offline at `at`.

    Online values older than their view's ttl at `at` count as missing, as the server serves
    them and as the offline lookup finds them: Feast's online read keeps returning a value
    after its ttl has passed (the store holds each entity's last row until a newer one lands).
    """
    views = [store.get_feature_view(v) for v in VIEWS]
    refs = [f"{v.name}:{f.name}" for v in views for f in v.features]
    rows = keys.select(KEYS).to_dicts()
    online = store.get_online_features(features=refs, entity_rows=rows).to_dict(
        include_event_timestamps=True
    )
    _expire(online, views, at)
    entities = keys.select(KEYS).to_pandas().assign(event_timestamp=pd.Timestamp(at))
    offline = store.get_historical_features(entity_df=entities, features=refs).to_df()
    offline = entities[list(KEYS)].merge(offline, on=list(KEYS), how="left")
    return [
        Mismatch(rows[i], name, a, b)
        for name in (r.split(":")[1] for r in refs)
        for i, (a, b) in enumerate(zip(online[name], offline[name], strict=True))
        if not _equal(a, b)
    ]


def _expire(online: dict[str, list], views, at: datetime) -> None:
    """Null each view's values older than its ttl at `at`. Feast gives every feature of a view
    the same timestamps (its row's), so the first feature's `__ts` stands for the view's."""
    for view in views:
        if not view.ttl or not view.features:
            continue
        oldest = (at - view.ttl).timestamp()
        stamps = online[f"{view.features[0].name}__ts"]
        stale = [i for i, seconds in enumerate(stamps) if seconds and seconds < oldest]
        for feature in view.features:
            values = online[feature.name]
            for i in stale:
                values[i] = None


def check(store, flights: pl.DataFrame, at: datetime, sample: int | None, seed: int = 0):
    """Sampled entities of the flights table compared online against offline at `at`: how
    many entities were compared, and the mismatches."""
    keys = entity_keys(flights, sample=sample, seed=seed)
    return keys.height, compare(store, keys, at)


def describe(mismatches: list[Mismatch]) -> str:
    return "; ".join(
        f"{m.entity} {m.feature}: online {m.online} != offline {m.offline}"
        for m in mismatches[:SHOWN]
    )


def entity_keys(flights: pl.DataFrame, sample: int | None, seed: int = 0) -> pl.DataFrame:
    """Distinct (tailnum, carrier, origin) rows seen in the flights, optionally a sample."""
    keys = flights.select(KEYS).drop_nulls().unique().sort(KEYS)
    return keys if sample is None or sample >= keys.height else keys.sample(sample, seed=seed)
