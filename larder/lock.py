"""One writer per data folder: every command that writes a zone holds an OS file lock on it.

`flock` on `<data dir>/.writer.lock`: the kernel releases it when the holder exits, however it
exits, so a kill -9 leaves no stale lock to clean up. The holder writes its process id and
command into the file; a second writer waits up to LARDER_LOCK_WAIT_S seconds (default 0) and
then exits with a message naming them. Readers (the server) never take it. Re-entrant within
a process: a command that runs stages in turn takes it once.
"""

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

NAME = ".writer.lock"
_held: dict[Path, int] = {}


class LockedError(Exception):
    """Another process is writing the data folder; the message names it."""


def wait_s() -> float:
    raw = os.environ.get("LARDER_LOCK_WAIT_S", "0")
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise LockedError(f"LARDER_LOCK_WAIT_S={raw!r} is not a number of seconds") from None


@contextmanager
def writing(data_dir: Path, command: str, wait: float | None = None) -> Iterator[None]:
    """Hold the data folder's writer lock for the block."""
    path = (data_dir / NAME).resolve()
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as file:
        _acquire(file, path, wait_s() if wait is None else wait)
        file.seek(0)
        file.truncate()
        holder = {"pid": os.getpid(), "command": command, "since": _now(), "argv": sys.argv}
        file.write(json.dumps(holder))
        file.flush()
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            fcntl.flock(file, fcntl.LOCK_UN)


def _acquire(file: IO[str], path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockedError(_busy(path, wait)) from None
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _busy(path: Path, wait: float) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    who = (
        f"process {holder['pid']} (`{holder.get('command', '?')}`, since {holder.get('since')})"
        if "pid" in holder
        else "another process"
    )
    waited = f" after waiting {wait:g} s" if wait else ""
    return (
        f"{path.parent} is being written by {who}{waited}: wait for it to finish (or set "
        "LARDER_LOCK_WAIT_S to wait), or stop it"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
