"""The two hot read routes, answered without FastAPI's per-request machinery.

FastAPI spends a few hundred microseconds of CPU per request on routing, dependency solving and
body handling: more than a one-entity read costs. For `POST /get-online-features` and
`POST /predict`, this ASGI layer validates the body (parsed once by serving/bodies.py, as the
routes take it) with the same pydantic model, calls the functions the routes call
(serving/answers.py) and sends the bytes the routes send. Anything it does not plainly answer
goes on to the FastAPI route with the body replayed: another content type, a read token that
does not match, a body that fails validation, a limit, an unknown feature. Those get FastAPI's
answers, in FastAPI's formats, and the routes remain the documented API; tests check that both
paths answer alike. Both decide alike because they call the same code: the token by
serving/auth.py's `allowed`, limits, reads, predictions, metrics and the prediction log by
serving/answers.py, request metrics and time limits by serving/middleware.py around both.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.answers import online_features, prediction
from serving.auth import reader_allowed
from serving.bodies import PARSED, Rejected, parse, replayed, whole_body
from serving.deps import Serving, serving_from
from serving.schemas import OnlineFeaturesRequest

JSON = (b"content-type", b"application/json")


async def _prediction(request: BaseModel, serving: Serving) -> bytes:
    return serving.served.schemas.dump.dump_json(await prediction(request, serving))


def _online_model(serving: Serving) -> type[BaseModel]:
    return OnlineFeaturesRequest


def _predict_model(serving: Serving) -> type[BaseModel]:
    return serving.served.schemas.request  # the served FeatureService's


# path: (the route's body model for what is served, its answer as bytes)
Answer = tuple[Callable[[Serving], type[BaseModel]], Callable[[Any, Serving], Awaitable[bytes]]]
ANSWERS: dict[str, Answer] = {
    "/get-online-features": (_online_model, online_features),
    "/predict": (_predict_model, _prediction),
}


class FastReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = _answer_for(scope)
        if answer is None:
            await self.app(scope, receive, send)
            return
        body = await whole_body(receive)
        if body is None:  # the client left while sending
            return
        content = await _try(answer, scope, body)
        if content is None:
            await self.app(scope, replayed(body, receive), send)
            return
        headers = [(b"content-length", str(len(content)).encode()), JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _answer_for(scope: Scope) -> Answer | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    return ANSWERS.get(scope["path"])


async def _try(answer: Answer, scope: Scope, body: bytes) -> bytes | None:
    """The answer's bytes, or None to leave the request to the FastAPI route."""
    serving = serving_from(scope["app"].state)
    if not (body and _plain_json(scope)) or not reader_allowed(
        _header(scope, b"authorization"), serving.settings.read_token
    ):
        return None
    model, call = answer
    try:
        # Parsed by CheckedBodies, in front of this layer (here only when used without it).
        value = scope[PARSED] if PARSED in scope else parse(body)
        parsed = model(serving).model_validate(value)
    except (Rejected, ValidationError):  # not a body the server takes, or not a valid one
        return None
    try:
        return await call(parsed, serving)
    # Limits and unknown features are raised before anything is counted or logged, so the
    # route can run the request again and answer the error.
    except HTTPException:
        return None


def _plain_json(scope: Scope) -> bool:
    # Only `application/json`: FastAPI also reads `+json` types, which it may keep doing.
    kind = _header(scope, b"content-type") or ""
    return kind.partition(";")[0].strip().lower() == "application/json"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
