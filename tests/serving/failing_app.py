"""An ASGI app whose startup fails, for the test of the worker supervisor: it imports nothing
else, so its worker processes start in a fraction of a second."""

from typing import Any


def create() -> Any:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "the registry is missing"})

    return app
