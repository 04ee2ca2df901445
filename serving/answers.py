"""What the read routes answer, shared by the FastAPI routes and the fast path (fastpath.py).

Limits and unknown features raise HTTPException before anything is counted or logged, so a
request the fast path cannot answer can go on to the route, which raises the same error.
"""

from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from serving.deps import Serving, at_most, unprocessable
from serving.metrics import observe_answer
from serving.online import epoch, now
from serving.predict import predict_rows
from serving.responses import feast_json
from serving.schemas import OnlineFeaturesRequest


async def online_features(body: OnlineFeaturesRequest, serving: Serving) -> bytes:
    """Feast's feature-server JSON; values older than their view's ttl at `as_of` withheld."""
    settings = serving.settings
    at_most(body.rows, settings.max_entities, "entities", "LARDER_MAX_ENTITIES")
    as_of = body.as_of or settings.as_of
    with unprocessable():
        plan = serving.plans.get(body.feature_service, body.features, body.full_feature_names)
        answer = serving.reader.read(plan, body.entities, [epoch(as_of) if as_of else now()])
    observe_answer(answer)
    return feast_json(body.entities, plan, answer, body.include_feature_view_version_metadata)


def parsed(model: type[BaseModel], body: Any) -> BaseModel:
    """The body's value (serving/bodies.py parsed it) as the served request model; a 422 with
    FastAPI's details if it is not one."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


async def prediction(request: BaseModel, serving: Serving) -> dict:
    """One request's prediction, logged."""
    return (await predictions([request], serving))[0]


async def predictions(requests: Sequence[BaseModel], serving: Serving) -> list[dict]:
    """Each request's prediction (as `schemas.dump` writes it), each logged."""
    task = serving.settings.task
    with unprocessable():
        predicted, records = await predict_rows(requests, serving.served, serving.reader, task)
    for record in records:
        serving.log.append(record)
    return predicted
