"""Training/serving skew, row by row: what the server served against what training would have
seen for the same request at the same moment.

For a sample of logged predictions, the features are rebuilt offline with Feast's
`get_historical_features` at the prediction time (the training path) and compared value by
value with what was served. A mismatch's cause is named when it can be:

- `not yet materialized`: the served value is the offline value at the last materialization
  before the prediction; the value changed in between and the online store had not caught up;
- `ttl`: served as missing (`outside_max_age`) while a value existed at the last
  materialization: it expired before the prediction time and no newer one was loaded yet;
- `type coercion`: equal once both are read as 32-bit floats (a lossy cast on one side);
- `unexplained`: none of the above, which deserves a look.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import polars as pl

from monitoring.logs import feature_values, statuses

NOT_MATERIALIZED, TTL, COERCION, UNEXPLAINED = (
    "not yet materialized",
    "ttl",
    "type coercion",
    "unexplained",
)

EXAMPLES = 3  # kept per feature and cause, for the report


@dataclass(frozen=True)
class Skew:
    rows: int
    per_feature: dict[str, dict]  # name -> {"mismatches": n, "rate": r, "causes": {cause: n}}
    examples: list[dict]

    @property
    def rate(self) -> float:
        """Share of compared (row, feature) cells that differ."""
        cells = self.rows * len(self.per_feature)
        return sum(f["mismatches"] for f in self.per_feature.values()) / cells if cells else 0.0


def entity_rows(
    log: pl.DataFrame, batch_at: Callable[[datetime], datetime], times: list[str]
) -> pd.DataFrame:
    """Feast entity rows for logged predictions: the request as logged (`times`: its fields
    that are timestamps), at the prediction time, and at the batch before it."""
    rows = [
        {
            "row_id": i,
            **json.loads(raw),
            "event_timestamp": pd.Timestamp(at),
            "batch_at": pd.Timestamp(batch_at(at)),
        }
        for i, (raw, at) in enumerate(zip(log["entities"], log["prediction_time"], strict=True))
    ]
    frame = pd.DataFrame(rows)
    for col in (*times, "event_timestamp", "batch_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[us, UTC]")
    return frame


def offline_values(store, service, entities: pd.DataFrame, at: str, names: list[str]):
    """The features training sees for each row at column `at`, in row order, as floats."""
    rows = entities.drop(columns=["event_timestamp", "batch_at"])
    rows = rows.assign(event_timestamp=entities[at])
    built = store.get_historical_features(entity_df=rows, features=service).to_df()
    built = built.sort_values("row_id").reset_index(drop=True)
    return pl.from_pandas(built[names].astype("float64"), nan_to_null=True)


def compare(
    log: pl.DataFrame,
    store,
    service,
    names: list[str],
    batch_at: Callable[[datetime], datetime],
    times: list[str],
) -> Skew:
    """Served against offline for every row of `log` (already sampled) and feature in `names`."""
    if not log.height:
        return Skew(0, {n: {"mismatches": 0, "rate": 0.0, "causes": {}} for n in names}, [])
    entities = entity_rows(log, batch_at, times)
    served = feature_values(log, names)
    state = statuses(log, names)
    fresh = offline_values(store, service, entities, "event_timestamp", names)
    loaded = offline_values(store, service, entities, "batch_at", names)
    per_feature, examples = {}, []
    for name in names:
        causes: dict[str, int] = {}
        for i, (s, o) in enumerate(zip(served[name], fresh[name], strict=True)):
            if _same(s, o):
                continue
            cause = _cause(s, o, loaded[name][i], state[name][i])
            causes[cause] = causes.get(cause, 0) + 1
            if causes[cause] <= EXAMPLES:
                examples.append(_example(log, i, name, s, o, cause))
        n = sum(causes.values())
        per_feature[name] = {"mismatches": n, "rate": n / log.height, "causes": causes}
    return Skew(log.height, per_feature, examples)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(a, b) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _cause(served, offline, at_batch, status) -> str:
    if _same(served, at_batch):
        return NOT_MATERIALIZED
    if _missing(served) and status == "outside_max_age" and not _missing(at_batch):
        return TTL
    if not _missing(served) and not _missing(offline) and np.float32(served) == np.float32(offline):
        return COERCION
    return UNEXPLAINED


def _example(log: pl.DataFrame, i: int, name: str, served, offline, cause: str) -> dict:
    return {
        "request_id": log["request_id"][i],
        "prediction_time": log["prediction_time"][i].isoformat(),
        "feature": name,
        "served": served,
        "offline": offline,
        "cause": cause,
    }
