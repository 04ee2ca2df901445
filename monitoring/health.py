"""Freshness of the online store per feature view, and serving health from the prediction log."""

from datetime import datetime

import numpy as np
import polars as pl


def freshness(store, view_names: list[str], clock: datetime) -> list[dict]:
    """Per view: the newest value in the online store, its age at `clock`, and the view's ttl.

    Reads the newest event time straight from the online store (the repo's bulk SQLite store
    keeps one row per entity, so a max over one column answers it)."""
    online = store._get_provider().online_store
    if not hasattr(online, "newest_event"):
        raise TypeError(
            f"freshness needs the repo's stores.online.BulkSqliteOnlineStore, not {type(online)}"
        )
    out = []
    for name in view_names:
        view = store.get_feature_view(name)
        newest = online.newest_event(store.config, view)
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
