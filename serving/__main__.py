"""`python -m serving [--host HOST] [--port PORT]`: serve predictions with uvicorn."""

import argparse

import uvicorn

from serving.app import create_app
from serving.settings import ServingSettings


def main(argv: list[str] | None = None) -> None:
    defaults = ServingSettings()
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--host", default=defaults.host, help=f"default {defaults.host}")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"default {defaults.port}")
    args = parser.parse_args(argv)
    settings = defaults.model_copy(update={"host": args.host, "port": args.port})
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
