"""One pure-ASGI layer around every request: latency and failure metrics, body and time limits,
and the last resort for failures nothing else answered.

Pure ASGI (not Starlette's BaseHTTPMiddleware) because it costs microseconds, not a task per
request. A request past LARDER_REQUEST_TIMEOUT_S that has not started answering gets a 503
naming the limit; work already running in a thread finishes in the background. An exception
that reaches this layer is answered as serving/faults.py says (JSON, one log line), or, when a
store's server is unreachable (serving/errors.py `store_outage`), as a 503 naming it; so the
connection stays open for the client's next request. At startup, a failing lifespan's message
(which uvicorn logs) is the one line of serving/startup.py, not a traceback.
"""

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from larder.cli import debug
from serving.bodies import answer
from serving.errors import store_outage
from serving.faults import logger, unexpected
from serving.metrics import FAILED, request_seconds

ENDPOINTS = {
    "/get-online-features",
    "/predict",
    "/predict/batch",
    "/push",
    "/health",
    "/ready",
    "/metrics",
    "/admin/reload",
}


class ObservedMiddleware:
    def __init__(self, app: ASGIApp, timeout_s: float, max_body_bytes: int) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                send = _one_line_failures(scope, send)
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
        status = {"code": 500, "started": False}

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.update(code=message["status"], started=True)
            await send(message)

        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise _TooLarge
            return message

        started = time.perf_counter()
        try:
            if _length(scope) > self.max_body_bytes:
                raise _TooLarge
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, counted, observed)
        except _TooLarge:
            if status["started"]:
                raise
            status["code"] = 413
            limit = f"{self.max_body_bytes} bytes (LARDER_MAX_BODY_BYTES)"
            await answer(send, 413, f"the request body is larger than the limit of {limit}")
        except TimeoutError:
            if status["started"]:
                raise
            status["code"] = 503
            limit = f"{self.timeout_s} s (LARDER_REQUEST_TIMEOUT_S)"
            await answer(send, 503, f"the request took longer than the limit of {limit}")
        except Exception as exc:
            if status["started"]:
                raise
            outage = store_outage(exc)
            if outage:  # a store's server is down or unreachable: passing, and no bug here
                logger.error("%s %s: %s", scope["method"], scope["path"], outage)
                status["code"], detail = 503, outage
            else:
                status["code"], detail = await unexpected(exc, scope)
            await answer(send, status["code"], detail)
        finally:
            request_seconds(endpoint).observe(time.perf_counter() - started)
            if status["code"] >= 400:
                FAILED.labels(endpoint, str(status["code"])).inc()


class _TooLarge(Exception):
    pass


def _length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _one_line_failures(scope: Scope, send: Send) -> Send:
    """uvicorn logs the message of `lifespan.startup.failed`: Starlette puts the traceback
    there; the lifespan leaves its one line in the app's state (LARDER_DEBUG keeps both)."""

    async def sent(message: Message) -> None:
        line = getattr(scope["app"].state, "startup_failure", None)
        if message["type"] == "lifespan.startup.failed" and line and not debug():
            message = {**message, "message": line}
        await send(message)

    return sent
