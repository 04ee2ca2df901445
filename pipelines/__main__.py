"""`python -m pipelines [ingest|validate|transform|apply|materialize|run]`"""

import argparse
import sys
import time
from collections.abc import Callable

import polars as pl

from pipelines import ingest, jobs, materialize, parity, validate
from pipelines.errors import PipelineError
from pipelines.settings import PipelineSettings
from pipelines.tables import package_data_dir


def run_ingest(s: PipelineSettings) -> str:
    results = ingest.ingest(s.source_dir or package_data_dir(), s.raw)
    return ", ".join(
        f"{r.table}: {'already ingested' if r.skipped else f'{r.rows} rows'}" for r in results
    )


def run_validate(s: PipelineSettings) -> str:
    summary = validate.validate(s.raw, s.validated, s.quarantine, s.max_bad_share)
    return ", ".join(
        f"{t}: {v['validated']} valid + {v['quarantined']} quarantined" for t, v in summary.items()
    )


def run_transform(s: PipelineSettings) -> str:
    return ", ".join(f"{t}: {n} rows" for t, n in jobs.build_features(s).items())


def run_apply(s: PipelineSettings) -> str:
    materialize.apply(s.feature_repo)
    return f"registered {s.feature_repo.name} with Feast"


def run_materialize(s: PipelineSettings) -> str:
    end = materialize.watermark(s.offline)
    materialize.materialize(s.feature_repo, end)
    flights = pl.read_parquet(s.offline / "flights.parquet")
    keys = parity.entity_keys(flights, sample=s.parity_sample)
    mismatches = parity.compare(materialize.open_store(s.feature_repo), keys, end)
    if mismatches:
        shown = "; ".join(
            f"{m.entity} {m.feature}: online {m.online} != offline {m.offline}"
            for m in mismatches[:5]
        )
        raise PipelineError(f"online store differs from offline at {end.isoformat()}: {shown}")
    return f"online store filled up to {end.isoformat()}; parity checked on {keys.height} entities"


STAGES: dict[str, Callable[[PipelineSettings], str]] = {
    "ingest": run_ingest,
    "validate": run_validate,
    "transform": run_transform,
    "apply": run_apply,
    "materialize": run_materialize,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    parser.add_argument("stage", choices=[*STAGES, "run"], help="one stage, or `run` for all")
    args = parser.parse_args(argv)
    settings = PipelineSettings()
    stages = list(STAGES) if args.stage == "run" else [args.stage]
    for name in stages:
        started = time.perf_counter()
        try:
            said = STAGES[name](settings)
        except (PipelineError, FileNotFoundError) as exc:
            print(f"[{name}] failed: {exc}", file=sys.stderr)
            return 1
        print(f"[{name}] {said} ({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
