"""Error answers that are always valid JSON, and what an unexpected failure answers.

Every error answer is `{"detail": ...}`, encodable whatever the request held: a NaN, or a string
with a lone surrogate, in a validation error's `input` is spelled as text. A failure no route
expected is one log line and one answer, never a closed connection: a 503 naming the store when
a state file is broken or the online store cannot be read (with how to recover), else a 500.
"""

import asyncio
import json
import logging
import math
import sqlite3
import time
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Scope

from larder import state
from larder.cli import debug

logger = logging.getLogger("serving")

EXPLAINED_S = 5.0  # how long one look at the state files answers for (the checks read them)


def error_body(detail: Any) -> bytes:
    return json.dumps(
        {"detail": safe(detail)}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


def safe(value: Any) -> Any:
    """`value` as JSON can hold it: non-finite floats and lone surrogates spelled as text."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {safe(str(k)): safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return safe(str(value))


class SafeJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(
            safe(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")


async def validation_failed(request: Request, exc: Exception) -> SafeJSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_encodable(error) for error in exc.errors()]
    return SafeJSONResponse({"detail": errors}, status_code=422)


def _encodable(error: Any) -> Any:
    try:
        return jsonable_encoder(error)
    except (ValueError, TypeError):  # an input jsonable_encoder cannot take
        return {k: safe(v) for k, v in error.items()}


async def http_failed(request: Request, exc: Exception) -> SafeJSONResponse:
    assert isinstance(exc, HTTPException)
    return SafeJSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


async def unexpected(exc: Exception, scope: Scope) -> tuple[int, str]:
    """The status and detail for a failure nothing else answered; logged in one line."""
    settings = getattr(scope["app"].state, "settings", None)
    broken = await _explained(exc, settings)
    if broken:  # a state file is missing or corrupt: the line names it and how to recover
        status, detail = 503, broken
    elif isinstance(exc, sqlite3.Error):  # say, locked, or a disk error: perhaps passing
        path = state.online_path(settings.feature_repo) if settings is not None else None
        detail = f"the online store {path or ''} cannot be read ({state.first_line(exc)})"
        status, detail = 503, f"{detail}: retry; if it persists, {state.REMATERIALIZE}"
    else:
        status = 500
        detail = f"the server failed unexpectedly ({type(exc).__name__}); its log says where"
    line = " ".join(f"{scope['method']} {scope['path']}: {detail}".split())
    if debug():
        logger.exception(line)
    else:
        logger.error("%s [%s: %s]", line, type(exc).__name__, state.first_line(exc))
    return status, " ".join(detail.split())


_looked: dict[tuple, tuple[float, str | None]] = {}


async def _explained(exc: Exception, settings: Any) -> str | None:
    """`state.explain`, looked at most every EXPLAINED_S seconds per served repo: under a
    broken store every request fails, and each look reads the state files."""
    if settings is None:
        return None
    key = (settings.feature_repo, settings.tracking_uri)
    at, said = _looked.get(key, (-math.inf, None))
    now = time.monotonic()
    if now - at > EXPLAINED_S:
        said = await asyncio.to_thread(state.explain, exc, *key)
        _looked[key] = (now, said)
    return said
