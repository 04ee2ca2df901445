"""One pure-ASGI layer around every request: latency and failure metrics, body and time limits.

Pure ASGI (not Starlette's BaseHTTPMiddleware) because it costs microseconds, not a task per
request. A request past LARDER_REQUEST_TIMEOUT_S that has not started answering gets a 503
naming the limit; work already running in a thread finishes in the background.
"""

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
            await _answer(send, 413, f"the request body is larger than the limit of {limit}")
        except TimeoutError:
            if status["started"]:
                raise
            status["code"] = 503
            limit = f"{self.timeout_s} s (LARDER_REQUEST_TIMEOUT_S)"
            await _answer(send, 503, f"the request took longer than the limit of {limit}")
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


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
