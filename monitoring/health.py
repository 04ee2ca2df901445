"""Freshness of the online store per feature view, and serving health from the prediction log."""

from datetime import UTC, datetime

import numpy as np
import polars as pl

from stores.feast_private import online_store


def freshness(store, view_names: list[str], clock: datetime, sample: int = 1000) -> list[dict]:
    """Per view: the newest value in the online store, its age at `clock`, and the view's ttl.

    The platform's bulk SQLite store answers the newest event time with one query; any other
    online store (stock Feast's, Redis, ...) is asked, through Feast's OnlineStore interface,
    for up to `sample` entities of the view's offline table, and the newest of those counts."""
    online = online_store(store)
    out = []
    for name in view_names:
        view = store.get_feature_view(name)
        if hasattr(online, "newest_event"):
            newest = online.newest_event(store.config, view)
        else:
            newest = _newest_read(store, view, sample)
        age = None if newest is None else (clock - newest).total_seconds()
        ttl = view.ttl.total_seconds() if view.ttl else None
        out.append(
            {
                "view": name,
                "newest": None if newest is None else newest.isoformat(),
                "age_hours": None if age is None else age / 3600,
                "ttl_hours": None if ttl is None else ttl / 3600,
                "fresh": age is not None and (ttl is None or age <= ttl),
            }
        )
    return out


def serving(log: pl.DataFrame, sent: pl.DataFrame) -> dict:
    """Requests answered and failed, and the latency percentiles the server logged."""
    latency = log["latency_ms"].to_numpy() if log.height else np.array([])
    failed = sent.filter(pl.col("status") != 200).height if sent.height else 0

    def pct(q: float) -> float | None:
        return float(np.percentile(latency, q)) if len(latency) else None

    return {
        "requests": sent.height,
        "errors": failed,
        "error_rate": failed / sent.height if sent.height else 0.0,
        "logged": log.height,
        "latency_p50_ms": pct(50),
        "latency_p95_ms": pct(95),
        "latency_p99_ms": pct(99),
    }


def _newest_read(store, view, sample: int) -> datetime | None:
    """The newest event time among the stored rows of sampled entities of the view."""
    from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

    from pipelines.parity import entity_keys

    keys = tuple(c.name for c in view.entity_columns)
    rows = entity_keys([view], keys, sample, seed=0)
    if not rows.height or not view.features:
        return None
    first = view.features[0].name
    read = store.get_online_features(features=[f"{view.name}:{first}"], entity_rows=rows.to_dicts())
    vector = read.proto.results[list(read.proto.metadata.feature_names.val).index(first)]
    seconds = [
        stamp.seconds
        for stamp, status in zip(vector.event_timestamps, vector.statuses, strict=True)
        if status != FieldStatus.NOT_FOUND  # a stored row, whatever its value
    ]
    return datetime.fromtimestamp(max(seconds), UTC) if seconds else None
