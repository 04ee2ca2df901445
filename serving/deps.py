"""What routes depend on: the objects the app loaded at startup, and error translation.

The read routes take them all as one `ServingDep`: FastAPI spends tens of microseconds per
dependency per request, as much as the rest of a one-entity read.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from serving.errors import BadReadError
from serving.online import OnlineReader
from serving.plans import Plans
from serving.prediction_log import PredictionLog
from serving.reload import Reloader, Served
from serving.settings import ServingSettings


async def get_plans(request: Request) -> Plans:
    return request.app.state.plans


async def get_settings(request: Request) -> ServingSettings:
    return request.app.state.settings


async def get_reloader(request: Request) -> Reloader:
    return request.app.state.reloader


@dataclass(frozen=True, slots=True)
class Serving:
    """What a read request works with, taken from the app once, when the request starts."""

    settings: ServingSettings
    served: Served  # a reload swaps the app's; this request keeps what it started with
    reader: OnlineReader
    plans: Plans
    log: PredictionLog


def serving_from(state: Any) -> Serving:
    """From the app's state, which the lifespan fills (and a reload updates)."""
    return Serving(state.settings, state.served, state.reader, state.plans, state.log)


async def get_serving(request: Request) -> Serving:
    return serving_from(request.app.state)


ServingDep = Annotated[Serving, Depends(get_serving)]
PlansDep = Annotated[Plans, Depends(get_plans)]
SettingsDep = Annotated[ServingSettings, Depends(get_settings)]
ReloaderDep = Annotated[Reloader, Depends(get_reloader)]


@contextmanager
def unprocessable() -> Iterator[None]:
    """A read or push the repo cannot answer (unknown feature, wrong type) is a 422."""
    try:
        yield
    except BadReadError as exc:
        raise HTTPException(422, str(exc)) from exc


def at_most(count: int, limit: int, what: str, setting: str) -> None:
    if count > limit:
        raise HTTPException(413, f"{count} {what} is more than the limit of {limit} ({setting})")
