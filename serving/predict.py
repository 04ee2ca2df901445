"""Predictions for flights: online features at each flight's prediction time, then the model."""

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from serving.metrics import observe_answer, predictions_made
from serving.online import OnlineReader, epoch
from serving.reload import Served
from serving.schemas import Flight, Prediction


async def predict_flights(
    flights: Sequence[Flight], served: Served, reader: OnlineReader, lead: timedelta
) -> tuple[list[Prediction], list[dict]]:
    """The predictions and their log records; ttl is checked at scheduled_departure - lead."""
    started = time.perf_counter()
    rows = [flight.entity_row() for flight in flights]
    entities = {key: [row[key] for row in rows] for key in rows[0]}
    times = [flight.scheduled_departure - lead for flight in flights]
    answer = reader.read(served.plan, entities, [epoch(t) for t in times])
    columns = answer.by_name()
    names = served.champion.feature_names
    values = [{name: columns[name].values[i] for name in names} for i in range(len(flights))]
    probabilities = await served.batcher.predict(values)
    observe_answer(answer)
    predictions_made(served.champion.version).inc(len(flights))
    latency_ms = (time.perf_counter() - started) * 1000
    out = [
        _prediction(served, columns, i, p, t)
        for i, (p, t) in enumerate(zip(probabilities, times, strict=True))
    ]
    return out, [_record(p, row, latency_ms) for p, row in zip(out, rows, strict=True)]


def _prediction(served: Served, columns, i: int, probability: float, at: datetime) -> Prediction:
    # Validated from plain dicts in one call: a model per feature costs more in Python calls.
    features = {
        name: {
            "value": columns[name].values[i],
            "status": columns[name].statuses[i].lower(),
            "event_timestamp": columns[name].timestamps[i],
        }
        for name in served.champion.feature_names
    }
    return Prediction.model_validate(
        {
            "request_id": uuid.uuid4().hex,
            "prediction_time": at,
            "delay_probability": probability,
            "model": {"name": served.champion.name, "version": served.champion.version},
            "feature_service": served.service.name,
            "features": features,
        }
    )


def _record(prediction: Prediction, entities: dict, latency_ms: float) -> dict:
    return {
        "request_id": prediction.request_id,
        "logged_at": datetime.now(UTC),
        "model_name": prediction.model.name,
        "model_version": prediction.model.version,
        "probability": prediction.delay_probability,
        "latency_ms": latency_ms,
        "prediction_time": prediction.prediction_time,
        "entities": entities,
        "features": {n: (f.value, f.status) for n, f in prediction.features.items()},
    }
