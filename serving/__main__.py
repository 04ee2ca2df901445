"""`python -m serving [--host HOST] [--port PORT] [--workers N]`: serve predictions with uvicorn.

Before starting, it checks that the champion exists: without one it prints one line saying
what is missing and how to fix it, and exits with status 2.
"""

import argparse
import os
import sys
import tempfile

import uvicorn

from serving.errors import ServingError
from serving.model import champion_version
from serving.settings import ServingSettings


def preflight(settings: ServingSettings) -> None:
    champion_version(settings.tracking_uri, settings.model_name, settings.model_alias)


def main(argv: list[str] | None = None) -> None:
    defaults = ServingSettings()
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--host", default=defaults.host, help=f"default {defaults.host}")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"default {defaults.port}")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="processes")
    parser.add_argument("--no-access-log", action="store_true", help="no line per request")
    args = parser.parse_args(argv)
    settings = defaults.model_copy(update={"host": args.host, "port": args.port})
    try:
        preflight(settings)
    except ServingError as exc:
        print(f"python -m serving: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    options = {"host": settings.host, "port": settings.port, "access_log": not args.no_access_log}
    if args.workers <= 1:
        from serving.app import create_app

        uvicorn.run(create_app(settings), **options)
        return
    # Workers are fresh processes: they read their settings from the environment, and share
    # Prometheus metrics through files in one folder.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="flights-metrics-"))
    uvicorn.run("serving.app:create_app", factory=True, workers=args.workers, **options)


if __name__ == "__main__":
    main()
