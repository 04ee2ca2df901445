"""The `/predict` request and response schemas, derived from the served FeatureService and the
domain's task: a request holds the service's join keys and the fields of its request sources
(and the task's `time`), each typed as the registry types it; a prediction holds the task's
answer field. Examples in OpenAPI come from the last complete row of the task's examples.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from feast import FeatureService, FeatureStore
from feast.types import Bool, Float32, Float64, Int32, Int64, String, UnixTimestamp
from feast.value_type import ValueType
from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, create_model
from typing_extensions import TypedDict

from larder import Task, data_dir
from serving.schemas import INT64, FeatureValue, ModelInfo, UtcTime
from training.contract import service_reads

Text = Annotated[str, Field(min_length=1, max_length=1000)]
Whole = Annotated[int, Strict()]
Number = Annotated[float, Field(allow_inf_nan=False)]
FLAG = Annotated[bool, Strict()]
KINDS: dict[Any, Any] = {
    String: Text,
    Int64: Whole,
    Int32: Whole,
    Float64: Number,
    Float32: Number,
    UnixTimestamp: UtcTime,
    Bool: FLAG,
}
KEY_KINDS = {ValueType.STRING: String, ValueType.INT64: Int64, ValueType.INT32: Int32}


@dataclass(frozen=True)
class RequestField:
    name: str
    kind: Any  # a Feast type
    description: str
    example: Any = None
    bounds: tuple[float | None, float | None] = (None, None)  # a number's minimum, maximum


@dataclass(frozen=True)
class Schemas:
    """The pydantic models of one served FeatureService."""

    fields: tuple[RequestField, ...]
    request: type[BaseModel]
    batch: type[BaseModel]  # {"rows": [request, ...]}
    prediction: type[BaseModel]  # what /predict answers, for the docs and for clients
    predictions: type[BaseModel]
    # The server builds each prediction as a plain dict of the Prediction's fields (checked
    # by predict.py as it builds it) and writes it as these TypedDicts: the same JSON as the
    # model's, without validating our own output field by field.
    dump: TypeAdapter = field(compare=False)  # one prediction
    dump_batch: TypeAdapter = field(compare=False)  # {"predictions": [...]}


def request_fields(store: FeatureStore, service: FeatureService, task: Task) -> list[RequestField]:
    reads = service_reads(store, service)
    keys, requested = reads.inputs()
    entities = {e.join_key: e for e in store.list_entities(allow_cache=True)}
    fields = [
        RequestField(
            key,
            KEY_KINDS.get(entities[key].value_type, String) if key in entities else String,
            entities[key].description if key in entities else "",
        )
        for key in keys
    ]
    sources = {
        f.name: s
        for v in reads.on_demand
        for s in v.source_request_sources.values()
        for f in s.schema
    }
    for name in requested:
        declared = reads.requested[name]
        about = declared.description or sources[name].description
        fields.append(
            RequestField(name, declared.dtype, about, bounds=_bounds(declared.tags or {}, name))
        )
    if task.time not in keys + requested:
        fields.append(RequestField(task.time, UnixTimestamp, "The moment the request is about."))
    return fields


def _bounds(tags: Mapping[str, str], name: str) -> tuple[float | None, float | None]:
    """A request field's `minimum` and `maximum` tags (Feast's Field tags), as numbers."""
    try:
        return tuple(float(tags[k]) if k in tags else None for k in ("minimum", "maximum"))  # type: ignore[return-value]
    except ValueError as exc:
        raise ValueError(f"request field {name!r}: its minimum/maximum tag is no number") from exc


def with_examples(fields: list[RequestField], examples: Path, time: str) -> list[RequestField]:
    """Each field with an example: the values of the latest example that has them all."""
    if not examples.is_file():
        return fields
    names = [f.name for f in fields]
    try:
        frame = pd.read_parquet(examples, columns=names).dropna().sort_values(time).tail(1)
    except (KeyError, ValueError, OSError):  # columns the table lacks: no examples
        return fields
    if frame.empty:
        return fields
    row = frame.iloc[0]
    return [
        RequestField(f.name, f.kind, f.description, _plain(row[f.name]), f.bounds) for f in fields
    ]


def example_request(fields: Sequence[RequestField]) -> dict[str, Any]:
    """A valid request: each field's example, or else a value of its kind within its bounds."""
    return {f.name: _stand_in(f) if f.example is None else f.example for f in fields}


def _stand_in(f: RequestField) -> Any:
    kind = KINDS.get(f.kind, Text)
    if kind is UtcTime:
        return datetime.now(UTC).isoformat()
    if kind is FLAG:
        return False
    if kind not in (Whole, Number):
        return "example"
    low, high = f.bounds
    value = low if low is not None else min(1.0, high) if high is not None else 1.0
    return math.ceil(value) if kind is Whole else value


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def schemas(fields: list[RequestField], task: Task) -> Schemas:
    request = create_model(  # type: ignore[call-overload]
        "PredictRequest",
        __config__=ConfigDict(extra="ignore"),
        __doc__=f"What the caller knows when asking for {task.description}.",
        **{f.name: _field(f, task) for f in fields},
    )
    prediction = prediction_model(task)
    batch = create_model(
        "PredictBatch",
        rows=(list[request], Field(min_length=1, description="At most LARDER_MAX_BATCH rows.")),  # type: ignore[valid-type]
    )
    predictions = create_model("Predictions", predictions=(list[prediction], ...))  # type: ignore[valid-type]
    out = prediction_dict(task)
    batch_out = TypedDict("PredictionsOut", {"predictions": list[out]})  # type: ignore[misc,valid-type,name-match]  # noqa: UP013
    return Schemas(
        tuple(fields),
        request,
        batch,
        prediction,
        predictions,
        TypeAdapter(out),
        TypeAdapter(batch_out),
    )


def _field(f: RequestField, task: Task) -> tuple[Any, Any]:
    kind = KINDS.get(f.kind, Text)
    about = f.description
    if f.name == task.time:
        lead = f" Predictions are made {task.lead} before it." if task.lead else ""
        about = f"{about} ISO-8601; a time without a zone is UTC.{lead}".strip()
    examples = None if f.example is None else [f.example]
    low, high = f.bounds
    if kind is Whole:  # a join key or field Feast stores as a 64-bit integer
        low = INT64[0] if low is None else max(low, INT64[0])
        high = INT64[1] if high is None else min(high, INT64[1])
    return kind, Field(description=about or None, examples=examples, ge=low, le=high)


def prediction_model(task: Task) -> type[BaseModel]:
    fields: Mapping[str, Any] = {
        "request_id": (str, Field(description="Also in the prediction log, to join outcomes.")),
        "prediction_time": (
            datetime,
            Field(description=f"The request's {task.time} - {task.lead}: the ttl checks' time."),
        ),
        task.answer: (float, Field(ge=0, le=1, description=task.description + ".")),
        "model": (ModelInfo, ...),
        "feature_service": (str, ...),
        "features": (
            dict[str, FeatureValue],
            Field(description="Each feature the model used, in the model's order."),
        ),
    }
    return create_model("Prediction", **fields)  # type: ignore[call-overload]


class FeatureValueOut(TypedDict):
    value: int | float | str | None
    status: str
    event_timestamp: datetime | None


class ModelOut(TypedDict):
    name: str
    version: str


def prediction_dict(task: Task) -> type:
    """`prediction_model(task)`'s fields as a TypedDict, to write a prediction built as a dict."""
    fields = {
        "request_id": str,
        "prediction_time": datetime,
        task.answer: float,
        "model": ModelOut,
        "feature_service": str,
        "features": dict[str, FeatureValueOut],
    }
    return TypedDict("PredictionOut", fields)  # type: ignore[operator]


def for_service(store: FeatureStore, service: FeatureService, task: Task, repo: Path) -> Schemas:
    fields = request_fields(store, service, task)
    examples = data_dir(repo) / "offline" / f"{task.examples}.parquet"
    return schemas(with_examples(fields, examples, task.time), task)
