"""Micro-batching: concurrent predictions share one call to the estimator.

A gradient-boosted model costs much less per row in a batch than alone (the per-call overhead
of walking hundreds of trees dominates), so the requests that arrive while a call runs queue
up and go together in the next call. Nothing waits on a timer: a lone request is predicted on
the next turn of the event loop, with whatever else became ready in that turn.

A call LightGBM answers in microseconds (`Champion.quick`) runs on the event loop:
a hop to a worker thread would cost more than the prediction. Anything slower runs in a
worker thread, so the loop keeps serving meanwhile.
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
            if self.champion.quick(len(rows)):
                probabilities = self.champion.predict_many(rows)
            else:
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
