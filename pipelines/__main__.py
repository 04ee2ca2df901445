"""`python -m pipelines STAGE`: ingest [--landing DIR], validate [--full], transform, apply,
materialize, or run (all five)."""

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from pipelines import ingest, jobs, materialize, parity, validate
from pipelines.errors import IngestError, PipelineError
from pipelines.settings import PipelineSettings
from pipelines.tables import package_data_dir


def run_ingest(s: PipelineSettings, landing: Path | None = None, progress: bool = False) -> str:
    """Ingest the landing folder (default: FLIGHTS_SOURCE_DIR, else the package's tables)."""
    folder = landing or s.source_dir or package_data_dir()
    results = ingest.ingest(folder, s.raw, progress=progress)
    for r in results:
        if r.outcome != "ingested":
            print(f"  {r.file}: {r.outcome}: {r.message}", file=sys.stderr)
        elif r.late_months:
            print(f"  {r.file}: late data for {', '.join(r.late_months)}", file=sys.stderr)
    rejected = [r for r in results if r.outcome == "rejected"]
    if rejected:
        raise IngestError(
            f"{len(rejected)} file(s) rejected (recorded in {s.raw / '_manifest.json'}): "
            + "; ".join(r.message for r in rejected)
        )
    return ", ".join(f"{r.file}: {_said(r)}" for r in results)


def _said(r: ingest.IngestResult) -> str:
    return f"{r.rows} rows" if r.outcome == "ingested" else r.outcome


def run_validate(s: PipelineSettings, full: bool = False) -> str:
    done = validate.validate(
        s.raw, s.validated, s.quarantine, s.max_bad_share, s.horizon_days, s.reports, full
    )
    for name, page in done.reports.items():
        print(f"  report {name}: {page}", file=sys.stderr)
    said = [
        f"{t}: {v['validated']} valid + {v['quarantined']} quarantined"
        if v["months"]
        else f"{t}: unchanged"
        for t, v in done.summary().items()
    ]
    return ", ".join(said)


def run_transform(s: PipelineSettings, months: list[str] | None = None) -> str:
    return jobs.describe(jobs.build_features(s, months))


def run_backfill(s: PipelineSettings, start: date | None = None, end: date | None = None) -> str:
    if start is None or end is None:
        raise PipelineError("backfill needs --start and --end (YYYY-MM-DD, end excluded)")
    return jobs.describe(jobs.backfill(s, start, end))


def run_apply(s: PipelineSettings) -> str:
    materialize.apply(s.feature_repo)
    return f"registered {s.feature_repo.name} with Feast"


def run_materialize(s: PipelineSettings) -> str:
    end = materialize.watermark(s.offline)
    store = materialize.open_store(s.feature_repo)  # one store for both: opening costs seconds
    materialize.materialize_store(store, end)
    flights = pl.read_parquet(s.offline / "flights.parquet")
    entities, mismatches = parity.check(store, flights, end, s.parity_sample)
    if mismatches:
        shown = parity.describe(mismatches)
        raise PipelineError(f"online store differs from offline at {end.isoformat()}: {shown}")
    return f"online store filled up to {end.isoformat()}; parity checked on {entities} entities"


STAGES: dict[str, Callable[[PipelineSettings], str]] = {
    "ingest": run_ingest,
    "validate": run_validate,
    "transform": run_transform,
    "apply": run_apply,
    "materialize": run_materialize,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    parser.add_argument(
        "stage", choices=[*STAGES, "run", "backfill"], help="one stage, or `run` for all"
    )
    parser.add_argument("--landing", type=Path, help="ingest: the drop folder to ingest")
    parser.add_argument(
        "--full", action="store_true", help="validate: all months, not only changes"
    )
    parser.add_argument(
        "--months", type=jobs.parse_months,
        help="transform: only these changed source months, e.g. 2013-07,2013-08 (default: all)",
    )  # fmt: skip
    parser.add_argument("--start", type=jobs.parse_day, help="backfill: first day, YYYY-MM-DD")
    parser.add_argument("--end", type=jobs.parse_day, help="backfill: the day after the last")
    args = parser.parse_args(argv)
    settings = PipelineSettings()
    stages = list(STAGES) if args.stage == "run" else [args.stage]
    options = {
        "ingest": {"landing": args.landing, "progress": sys.stderr.isatty()},
        "validate": {"full": args.full},
        "transform": {"months": args.months},
        "backfill": {"start": args.start, "end": args.end},
    }
    for name in stages:
        started = time.perf_counter()
        try:
            stage = run_backfill if name == "backfill" else STAGES[name]
            said = stage(settings, **options.get(name, {}))  # type: ignore[operator]
        except (PipelineError, FileNotFoundError) as exc:
            print(f"[{name}] failed: {exc}", file=sys.stderr)
            return 1
        print(f"[{name}] {said} ({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
