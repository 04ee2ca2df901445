"""Predictions: online features at each request's prediction time (the task's `time - lead`),
then the model; and the warm-up, one uncounted prediction before a model takes traffic."""

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from larder import Task, state
from larder.state import first_line
from serving.errors import ServingError, WarmUpError
from serving.metrics import observe_answer, predictions_made
from serving.online import NOT_FOUND, PRESENT, STALE, Answer, OnlineReader, epoch
from serving.requests import example_request

if TYPE_CHECKING:
    from serving.reload import Served


async def predict_rows(
    requests: Sequence[BaseModel], served: "Served", reader: OnlineReader, task: Task
) -> tuple[list[dict], list[dict]]:
    """The predictions and their log records; ttl is checked at each prediction time."""
    started = time.perf_counter()
    rows, times, answer, values = _features(requests, served, reader, task)
    probabilities = await served.batcher.predict(values)
    columns = answer.by_name()
    observe_answer(answer)
    predictions_made(served.champion.version).inc(len(rows))
    latency_ms = (time.perf_counter() - started) * 1000
    out = [
        _prediction(served, task, columns, i, p, t)
        for i, (p, t) in enumerate(zip(probabilities, times, strict=True))
    ]
    return out, [
        _record(served, p, row, latency_ms, task) for p, row in zip(out, rows, strict=True)
    ]


def warm_up(served: "Served", reader: OnlineReader, task: Task) -> None:
    """One real online read and one prediction for an example request, neither counted nor
    logged: the store and the model answer before the server (or a reloaded model) takes
    traffic. Either failing is a WarmUpError naming it and how to recover."""
    request = served.schemas.request.model_validate(example_request(served.schemas.fields))
    try:
        _, times, answer, values = _features([request], served, reader, task)
    except ServingError:
        raise
    except Exception as exc:  # it opened, and passed its checks, but cannot answer
        path = state.online_path(Path(reader.store.repo_path))
        where, recover = (
            (f"the online store {path}", state.REMATERIALIZE)
            if path
            else ("the online store", "check that it is up and reachable")
        )
        raise WarmUpError(
            f"{where} does not answer a read ({type(exc).__name__}: {first_line(exc)}): {recover}"
        ) from exc
    champion = served.champion
    try:
        probability = champion.predict_many(values)[0]
        _prediction(served, task, answer.by_name(), 0, probability, times[0])
    except Exception as exc:  # _prediction checks the probability is in [0, 1]
        raise WarmUpError(
            f"model {champion.name} version {champion.version} does not answer a first "
            f"prediction ({type(exc).__name__}: {first_line(exc)}): train and promote another "
            "version (`python -m training train`)"
        ) from exc


def _features(
    requests: Sequence[BaseModel], served: "Served", reader: OnlineReader, task: Task
) -> tuple[list[dict], list[datetime], Answer, list[dict]]:
    """The requests as rows, their prediction times, the online read, the model's inputs."""
    rows = [request.model_dump() for request in requests]
    entities = {key: [row[key] for row in rows] for key in rows[0]}
    times = [row[task.time] - task.lead for row in rows]
    answer = reader.read(served.plan, entities, [epoch(t) for t in times])
    columns = answer.by_name()
    names, keys = served.champion.names, served.champion.contract.keys
    values = [
        {**{key: row[key] for key in keys}, **{name: columns[name].values[i] for name in names}}
        for i, row in enumerate(rows)
    ]
    return rows, times, answer, values


def _prediction(served: "Served", task: Task, columns, i: int, p: float, at: datetime) -> dict:
    """The Prediction (serving/requests.py) of row `i`, as the dict `schemas.dump` writes."""
    if not 0.0 <= p <= 1.0:  # NaN included
        raise ValueError(f"the model answered {p!r}, not a probability")
    features = {}
    for name in served.champion.names:
        column = columns[name]
        features[name] = {
            "value": column.values[i],
            "status": STATUS[column.statuses[i]],
            "event_timestamp": column.timestamps[i],
        }
    return {
        "request_id": uuid.uuid4().hex,
        "prediction_time": at,
        task.answer: float(p),
        "model": {"name": served.champion.name, "version": served.champion.version},
        "feature_service": served.service.name,
        "features": features,
    }


STATUS = {status: status.lower() for status in (PRESENT, NOT_FOUND, STALE, "NULL_VALUE", "INVALID")}


def _record(
    served: "Served", prediction: dict, entities: dict, latency_ms: float, task: Task
) -> dict:
    features = prediction["features"]
    return {
        "request_id": prediction["request_id"],
        "logged_at": datetime.now(UTC),
        "model_name": prediction["model"]["name"],
        "model_version": prediction["model"]["version"],
        "probability": prediction[task.answer],
        "latency_ms": latency_ms,
        "prediction_time": prediction["prediction_time"],
        "entities": entities,
        # three tuples in the model's order (serving/prediction_log.py transposes them)
        "features": (
            served.champion.names,
            tuple([f["value"] for f in features.values()]),
            tuple([f["status"] for f in features.values()]),
        ),
    }
