"""`python -m training train`: labels -> point-in-time frame -> fit, evaluate -> MLflow champion."""

import argparse
import os
import sys
import time

from pydantic import ValidationError

from training.errors import TrainingError
from training.settings import TrainingSettings
from training.train import Report, train


def timed_printer() -> Report:
    """Prints `[step] message (seconds since the previous step)`, one line per step."""
    last = time.perf_counter()

    def report(step: str, message: str) -> None:
        nonlocal last
        now = time.perf_counter()
        print(f"[{step}] {message} ({now - last:.1f} s)", flush=True)
        last = now

    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("command", choices=["train"], help="train and register a new champion")
    parser.parse_args(argv)
    # MLflow's INFO lines (database migrations) would interleave with the steps; set it to
    # INFO or DEBUG to see them.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    try:
        settings = TrainingSettings()
    except ValidationError as exc:
        print(f"[train] bad settings (FLIGHTS_* environment): {exc}", file=sys.stderr)
        return 2
    try:
        train(settings, report=timed_printer())
    except TrainingError as exc:
        print(f"[train] failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
