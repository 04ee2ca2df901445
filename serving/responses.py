"""Feast's feature-server JSON, built straight from an Answer (no protobuf round trip).

Encoded by pydantic-core's `to_json` (Rust), several times faster than the standard library's
encoder on thousands of floats. It writes the same values; only the spelling of a few may
differ (`1e-05` as `0.00001`, non-ASCII text as UTF-8 rather than escaped).
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from serving.online import PRESENT, Answer, Plan

EPOCH = "1970-01-01T00:00:00Z"


def feast_json(
    entities: Mapping[str, Sequence[Any]], plan: Plan, answer: Answer, versions: bool
) -> bytes:
    """Join keys first (as the request gave them), then each feature, as `feast serve` answers."""
    keys = [key for key in entities if key in plan.echoed]
    # The features of one view share one list of timestamps: format it once, and each
    # distinct moment once (rows of one entity repeat it).
    formatted: dict[int, list[str]] = {}
    stamps: dict[tuple, str] = {}
    for column in answer.columns:
        if id(column.timestamps) not in formatted:
            formatted[id(column.timestamps)] = [_stamp(t, stamps) for t in column.timestamps]
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
    return to_json({"metadata": metadata, "results": results})


def _echo(values: Sequence[Any]) -> dict[str, list]:
    n = len(values)
    return {"values": list(values), "statuses": [PRESENT] * n, "event_timestamps": [EPOCH] * n}


def _stamp(moment: datetime | None, seen: dict[tuple, str]) -> str:
    """The moment's own wall time, with microseconds only when there are any, then "Z"."""
    if moment is None:
        return EPOCH
    key = (moment, moment.tzinfo)  # equal moments in other zones print other wall times
    text = seen.get(key)
    if text is None:
        text = seen[key] = moment.replace(tzinfo=None).isoformat() + "Z"
    return text
