"""Whether the server is ready for traffic, as `/ready` answers it.

Ready means started (serving/startup.py: the store and the model answered one read and one
prediction) and an online store that still passes SQLite's quick_check, looked at again when
the last look is LARDER_INTEGRITY_CHECK_S old (the check reads the whole file, so not on every
probe). A truncated or corrupted store makes `/ready` a 503 naming it and how to recover.
"""

import asyncio
import time
from pathlib import Path

from larder import state


class Readiness:
    def __init__(self, repo: Path, every_s: float) -> None:
        self.repo = repo
        self.every_s = every_s
        self._looked = time.monotonic()  # the server has just started: the store was checked
        self._problem: str | None = None
        self._lock = asyncio.Lock()

    async def problem(self) -> str | None:
        """Why the server is not ready, or None."""
        async with self._lock:  # concurrent probes share one look
            if time.monotonic() - self._looked >= self.every_s:
                self._problem = await asyncio.to_thread(self._look)
                self._looked = time.monotonic()
        return self._problem

    def _look(self) -> str | None:
        try:
            state.check_online_store(self.repo)
        except state.StateError as exc:
            return str(exc)
        return None
