"""How a command tells people what it did: one `[step] message` line per step."""

import time
from collections.abc import Callable

Report = Callable[[str, str], None]


def silent(step: str, message: str) -> None:
    pass


def timed_printer() -> Report:
    """Prints `[step] message (seconds since the previous step)`, one line per step."""
    last = time.perf_counter()

    def report(step: str, message: str) -> None:
        nonlocal last
        now = time.perf_counter()
        print(f"[{step}] {message} ({now - last:.1f} s)", flush=True)
        last = now

    return report
