"""Feast's feature-server JSON, built straight from an Answer (no protobuf round trip)."""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from serving.online import PRESENT, Answer, Plan

EPOCH = "1970-01-01T00:00:00Z"


def feast_json(
    entities: Mapping[str, Sequence[Any]], plan: Plan, answer: Answer, versions: bool
) -> bytes:
    """Join keys first (as the request gave them), then each feature, as `feast serve` answers."""
    keys = [key for key in entities if key in plan.echoed]
    # The features of one view share one list of timestamps: format it once.
    formatted: dict[int, list[str]] = {}
    for column in answer.columns:
        if id(column.timestamps) not in formatted:
            formatted[id(column.timestamps)] = [_stamp(t) for t in column.timestamps]
    results = [_echo(entities[key]) for key in keys]
    results += [
        {
            "values": column.values,
            "statuses": column.statuses,
            "event_timestamps": formatted[id(column.timestamps)],
        }
        for column in answer.columns
    ]
    metadata: dict[str, Any] = {"feature_names": keys + [c.name for c in answer.columns]}
    if versions:
        views = dict.fromkeys(c.view for c in answer.columns)
        metadata["feature_view_metadata"] = [{"name": v, "version": 0} for v in views]
    return json.dumps({"metadata": metadata, "results": results}, separators=(",", ":")).encode()


def _echo(values: Sequence[Any]) -> dict[str, list]:
    n = len(values)
    return {"values": list(values), "statuses": [PRESENT] * n, "event_timestamps": [EPOCH] * n}


def _stamp(moment: datetime | None) -> str:
    if moment is None:
        return EPOCH
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
