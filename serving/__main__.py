"""`python -m serving [--host HOST] [--port PORT] [--workers N]`: serve predictions with uvicorn.

Before starting, it checks that the champion exists: without one it prints one line saying
what is missing and how to fix it, and exits with status 2. `--example` prints a `/predict`
body for the domain's task (its FeatureService's fields, valued from the last example) and
exits.
"""

import argparse
import os
import sys
import tempfile
from typing import Any

import uvicorn

from larder.domain import DomainError
from serving.errors import ServingError
from serving.model import champion_service, champion_version
from serving.settings import ServingSettings
from training.errors import ContractError


def check_champion(settings: ServingSettings) -> None:
    champion_version(settings.tracking_uri, settings.model, settings.model_alias)


def example(settings: ServingSettings) -> dict:
    """A `/predict` body for the champion's FeatureService (the task's, before there is one),
    valued from the task's last example."""
    from feast import FeatureStore

    from larder import data_dir
    from serving.errors import ModelNotFoundError
    from serving.requests import request_fields, with_examples
    from training.contract import find_service

    task = settings.task
    try:
        service = champion_service(settings.tracking_uri, settings.model, settings.model_alias)
    except ModelNotFoundError:
        service = task.feature_service
    store = FeatureStore(repo_path=str(settings.feature_repo))
    fields = request_fields(store, find_service(store, service), task)
    table = data_dir(settings.feature_repo) / "offline" / f"{task.examples}.parquet"
    return {f.name: f.example for f in with_examples(fields, table, task.time)}


def main(argv: list[str] | None = None) -> None:
    defaults = ServingSettings()
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
            import json

            print(json.dumps(example(settings)))
            return
        check_champion(settings)
    except (ServingError, DomainError, ContractError) as exc:
        print(f"python -m serving: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": not args.no_access_log,
    }
    if args.workers <= 1:
        from serving.app import create_app

        uvicorn.run(create_app(settings), **options)
        return
    # Workers are fresh processes: they read their settings from the environment, and share
    # Prometheus metrics through files in one folder.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="larder-metrics-"))
    uvicorn.run("serving.app:create_app", factory=True, workers=args.workers, **options)


if __name__ == "__main__":
    main()
