"""Micro-batching: concurrent predictions share one call to the estimator.

A gradient-boosted model costs about the same for one row as for a hundred (the per-call
overhead of walking hundreds of trees dominates), so while one call runs in a worker thread,
the requests that arrive meanwhile queue up and go together in the next call. Nothing waits on
a timer: a lone request is predicted at once.
"""

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from serving.model import Champion


class Batcher:
    def __init__(self, champion: Champion) -> None:
        self.champion = champion
        self._pending: list[tuple[Sequence[Mapping[str, Any]], asyncio.Future]] = []
        self._draining = False

    async def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._run(batch)
        finally:
            self._draining = False

    async def _run(self, batch: list[tuple[Sequence[Mapping[str, Any]], asyncio.Future]]) -> None:
        rows = [row for request, _ in batch for row in request]
        try:
            probabilities = await asyncio.to_thread(self.champion.predict_many, rows)
        except Exception as exc:  # handed to each waiting request, which raises it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for request, future in batch:
            if not future.done():  # a request that timed out no longer waits
                future.set_result(probabilities[start : start + len(request)])
            start += len(request)
