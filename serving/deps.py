"""What routes depend on: the objects the app loaded at startup, and error translation."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from serving.errors import BadReadError
from serving.online import OnlineReader
from serving.plans import Plans
from serving.prediction_log import PredictionLog
from serving.reload import Reloader, Served
from serving.settings import ServingSettings


def get_served(request: Request) -> Served:
    # Read once per request: a reload swaps it, and this request keeps what it started with.
    return request.app.state.served


def get_reader(request: Request) -> OnlineReader:
    return request.app.state.reader


def get_plans(request: Request) -> Plans:
    return request.app.state.plans


def get_log(request: Request) -> PredictionLog:
    return request.app.state.log


def get_settings(request: Request) -> ServingSettings:
    return request.app.state.settings


def get_reloader(request: Request) -> Reloader:
    return request.app.state.reloader


ServedDep = Annotated[Served, Depends(get_served)]
ReaderDep = Annotated[OnlineReader, Depends(get_reader)]
PlansDep = Annotated[Plans, Depends(get_plans)]
LogDep = Annotated[PredictionLog, Depends(get_log)]
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
