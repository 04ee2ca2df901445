"""What every command does with a failure it did not expect: one line, not a traceback.

The line names the broken state file when one is (larder.state.explain), else the error
itself; LARDER_DEBUG=1 re-raises it, traceback and all.
"""

import os
import sys
from pathlib import Path

from larder import state


def debug() -> bool:
    return os.environ.get("LARDER_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def unexpected(
    command: str, exc: BaseException, repo: Path | None, tracking_uri: str | None = None
) -> int:
    """Print the one line for `exc` (or re-raise it under LARDER_DEBUG); the exit status, 1."""
    if debug():
        raise exc
    found = state.explain(exc, repo, tracking_uri)
    said = found or f"{type(exc).__name__}: {state.first_line(exc)} (LARDER_DEBUG=1 shows where)"
    print(f"[{command}] failed: {said}", file=sys.stderr)
    return 1
