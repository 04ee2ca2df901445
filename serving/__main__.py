"""`python -m serving [--host HOST] [--port PORT] [--workers N]`: serve predictions with uvicorn.

Before starting any worker, it does what each worker's startup does (serving/startup.py: the
state files are sound, the store opens, the champion loads, one online read and one prediction
answer). If that fails, it prints one line saying what is broken and how to recover, and exits
with status 2 (LARDER_DEBUG=1 raises the error instead, traceback and all). A worker whose
startup fails all the same (say, a file changed meanwhile) logs one line, and the server stops
with status 3, however many workers it has. `--example` prints a `/predict` body for the
domain's task (its FeatureService's fields, valued from the last example) and exits.
"""

# ruff: noqa: E402 (the metrics folder is named before the imports below load Feast)
from serving.metrics_folder import own_folder

if __name__ == "__main__":  # the server's own process: its spawned workers import this as
    own_folder()  # __mp_main__, and keep the folder they inherit

import argparse
import asyncio
import contextlib
import json
import os
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from larder.cli import debug
from serving.model import champion_service
from serving.settings import ServingSettings
from serving.startup import failure_line, start

STARTUP_FAILED = 2


def rehearse_start(settings: ServingSettings) -> None:
    """A worker's startup, once, in this process; raises what would stop a worker."""
    started = start(settings)
    asyncio.run(started.store.close())


def example(settings: ServingSettings) -> dict:
    """A `/predict` body for the champion's FeatureService (the task's, before there is one),
    valued from the task's last example."""
    from larder import data_dir, tier
    from serving.errors import ModelNotFoundError
    from serving.requests import request_fields, with_examples
    from training.contract import find_service

    task = settings.task
    try:
        service = champion_service(settings.tracking_uri, settings.model, settings.model_alias)
    except ModelNotFoundError:
        service = task.feature_service
    store = tier.open_store(settings.feature_repo)
    fields = request_fields(store, find_service(store, service), task)
    table = data_dir(settings.feature_repo) / "offline" / f"{task.examples}.parquet"
    return {f.name: f.example for f in with_examples(fields, table, task.time)}


def supervise(app: str, workers: int, options: dict[str, Any]) -> int:
    """uvicorn's supervisor over `workers` processes of the app factory `app`; the exit status.

    `uvicorn.run(..., workers=N)` returns normally, status 0, when its supervisor stops
    because a worker failed to start (uvicorn's STARTUP_FAILURE; it would restart a worker that
    died any other way forever, hence `serving.app:worker_app`). That status is read back here.
    """
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, factory=True, workers=workers, **options)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    with contextlib.suppress(KeyboardInterrupt):
        supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        print(
            "python -m serving: a worker failed to start (its log line says why)", file=sys.stderr
        )
        return STARTUP_FAILURE
    return 0


def main(argv: list[str] | None = None) -> None:
    try:
        defaults = ServingSettings()
    except ValidationError as exc:  # a LARDER_* variable that is not what it should be
        print(f"python -m serving: bad settings: {' '.join(str(exc).split())}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILED) from None
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--host", default=defaults.host, help=f"default {defaults.host}")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"default {defaults.port}")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="processes")
    parser.add_argument("--no-access-log", action="store_true", help="no line per request")
    parser.add_argument("--example", action="store_true", help="print a /predict body, exit")
    args = parser.parse_args(argv)
    settings = defaults.model_copy(update={"host": args.host, "port": args.port})
    try:
        if args.example:
            print(json.dumps(example(settings)))
            return
        rehearse_start(settings)
    except Exception as exc:
        if debug():
            raise
        print(f"python -m serving: {failure_line(exc, settings)}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILED) from None
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": not args.no_access_log,
    }
    if args.workers <= 1:
        from serving.app import create_app

        uvicorn.run(create_app(settings), **options)  # exits 3 itself if the startup fails
        return
    # Workers are fresh processes: they read their settings from the environment, and share
    # Prometheus metrics through the files of the server's folder (serving/metrics_folder.py).
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        own_folder()
    status = supervise("serving.app:worker_app", args.workers, options)
    if status:
        raise SystemExit(status)


if __name__ == "__main__":
    main()
