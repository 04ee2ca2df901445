"""What the read routes answer, shared by the FastAPI routes and the fast path (fastpath.py).

Limits and unknown features raise HTTPException before anything is counted or logged, so a
request the fast path cannot answer can go on to the route, which raises the same error.
"""

from collections.abc import Sequence

from serving.deps import Serving, at_most, unprocessable
from serving.metrics import observe_answer
from serving.online import epoch, now
from serving.predict import predict_flights
from serving.responses import feast_json
from serving.schemas import Flight, OnlineFeaturesRequest, Prediction


async def online_features(body: OnlineFeaturesRequest, serving: Serving) -> bytes:
    """Feast's feature-server JSON; values older than their view's ttl at `as_of` withheld."""
    settings = serving.settings
    at_most(body.rows, settings.max_entities, "entities", "FLIGHTS_MAX_ENTITIES")
    as_of = body.as_of or settings.as_of
    with unprocessable():
        plan = serving.plans.get(body.feature_service, body.features, body.full_feature_names)
        answer = serving.reader.read(plan, body.entities, [epoch(as_of) if as_of else now()])
    observe_answer(answer)
    return feast_json(body.entities, plan, answer, body.include_feature_view_version_metadata)


async def prediction(flight: Flight, serving: Serving) -> Prediction:
    """One flight's prediction, logged."""
    return (await predictions([flight], serving))[0]


async def predictions(flights: Sequence[Flight], serving: Serving) -> list[Prediction]:
    """Each flight's prediction, each logged."""
    lead = serving.settings.prediction_lead
    with unprocessable():
        predicted, records = await predict_flights(flights, serving.served, serving.reader, lead)
    for record in records:
        serving.log.append(record)
    return predicted
