"""`python -m pipelines STAGE`: ingest [--landing DIR], validate [--full], transform [--months],
backfill --start --end, apply, materialize, or run (ingest to materialize).

The domain folder is LARDER_FEATURE_REPO (default: feature_repo/, the default domain). Each stage
prints one line with what it did and its wall time; a failure prints one line naming what is
wrong (a broken state file is named, with how to recover), and the exit status is 1. One
command at a time writes a data folder (larder.lock): a second exits naming the first.
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from larder import lock, state
from larder.cli import unexpected
from larder.domain import DomainError
from larder.state import StateError
from pipelines import ingest as ingesting
from pipelines import jobs, stages
from pipelines.errors import PipelineError
from pipelines.settings import PipelineSettings

STAGES = ("ingest", "validate", "transform", "apply", "materialize")


def _ingested(results: list[ingesting.IngestResult]) -> str:
    said = (f"{r.rows} rows" if r.outcome == "ingested" else r.outcome for r in results)
    return ", ".join(f"{r.file}: {s}" for r, s in zip(results, said, strict=True))


def _validated(done: Any) -> str:
    return ", ".join(
        f"{t}: {v['validated']} valid + {v['quarantined']} quarantined"
        + (f" ({sum(v['warnings'].values())} warned)" if v.get("warnings") else "")
        if v["months"]
        else f"{t}: unchanged"
        for t, v in done.summary().items()
    )


def _materialized(done: stages.Materialized) -> str:
    return (
        f"online store filled up to {done.end.isoformat()}; parity checked on {done.entities} "
        "entity keys"
    )


def _commands(args: argparse.Namespace) -> dict[str, Callable[[PipelineSettings], str]]:
    return {
        "ingest": lambda s: _ingested(stages.ingest(s, args.landing, progress=sys.stderr.isatty())),
        "validate": lambda s: _validated(stages.validate(s, args.full)),
        "transform": lambda s: jobs.describe(stages.transform(s, args.months)),
        "backfill": lambda s: jobs.describe(stages.backfill(s, args.start, args.end)),
        "apply": lambda s: (stages.apply(s), f"registered {s.domain.project} with Feast")[1],
        "materialize": _materialize,
    }


def _materialize(s: PipelineSettings) -> str:
    """After checking that the registry and the online store are sound: it writes to both."""
    state.check_registry(s.feature_repo)
    state.check_online_store(s.feature_repo, must_exist=False)
    return _materialized(stages.materialize_and_check(s))


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    cli.add_argument("stage", choices=[*STAGES, "run", "backfill"], help="one stage, or `run`")
    cli.add_argument("--landing", type=Path, help="ingest: the drop folder to ingest")
    cli.add_argument("--full", action="store_true", help="validate: all months, not only changes")
    cli.add_argument(
        "--months", type=jobs.parse_months,
        help="transform: only these changed source months, e.g. 2013-07,2013-08 (default: all)",
    )  # fmt: skip
    cli.add_argument("--start", type=jobs.parse_day, help="backfill: first day, YYYY-MM-DD")
    cli.add_argument("--end", type=jobs.parse_day, help="backfill: the day after the last")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = PipelineSettings()
    try:
        with lock.writing(settings.data_dir, f"python -m pipelines {args.stage}"):
            return _run(args, settings)
    except lock.LockedError as exc:
        print(f"[{args.stage}] not started: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: PipelineSettings) -> int:
    commands = _commands(args)
    for name in STAGES if args.stage == "run" else [args.stage]:
        started = time.perf_counter()
        try:
            said = commands[name](settings)
        except (PipelineError, DomainError, StateError, FileNotFoundError) as exc:
            print(f"[{name}] failed: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:  # one line, not a traceback (LARDER_DEBUG=1 shows it)
            return unexpected(name, exc, settings.feature_repo)
        print(f"[{name}] {said} ({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
