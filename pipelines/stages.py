"""The pipeline's stages as plain functions of the settings: what `python -m pipelines` runs and
what other stages (the monitoring replay) call. Each returns what it did; what it has to say
along the way (late data, report pages) goes to `say`."""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pipelines import ingest as ingesting
from pipelines import jobs, materialize, parity, sample
from pipelines import validate as validating
from pipelines.errors import IngestError, PipelineError
from pipelines.settings import PipelineSettings

Say = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def ingest(
    s: PipelineSettings, landing: Path | None = None, progress: bool = False, say: Say = _stderr
) -> list[ingesting.IngestResult]:
    """Ingest the landing folder (default: LARDER_LANDING, else the domain's sample data)."""
    folder = landing or s.landing or sample.lay_out(s.domain, s.sample_landing)
    results = ingesting.ingest(
        folder, s.raw, s.domain.sources, progress=progress, max_bad_share=s.max_bad_share
    )
    for r in results:
        if r.outcome != "ingested" or r.message:
            say(f"  {r.file}: {r.outcome}: {r.message}")
        if r.outcome == "ingested" and r.late_months:
            say(f"  {r.file}: late data for {', '.join(r.late_months)}")
    rejected = [r for r in results if r.outcome == "rejected"]
    if rejected:
        raise IngestError(
            f"{len(rejected)} file(s) rejected (recorded in {s.raw / '_manifest.json'}): "
            + "; ".join(r.message for r in rejected)
        )
    return results


def validate(
    s: PipelineSettings, full: bool = False, say: Say = _stderr
) -> validating.ValidationRun:
    done = validating.validate(
        s.domain.sources, s.raw, s.validated, s.quarantine, s.max_bad_share, s.reports, full
    )
    for name, page in done.reports.items():
        say(f"  report {name}: {page}")
    return done


def transform(s: PipelineSettings, months: list[str] | None = None) -> dict[str, int]:
    """Validated zone -> offline store; `months`: only the source months that changed."""
    return jobs.build_features(s.domain, s.validated, s.offline, months)


def backfill(s: PipelineSettings, start: date | None, end: date | None) -> dict[str, int]:
    if start is None or end is None:
        raise PipelineError("backfill needs --start and --end (YYYY-MM-DD, end excluded)")
    return jobs.backfill(s.domain, s.validated, s.offline, start, end)


def apply(s: PipelineSettings) -> str:
    """`feast apply` in the domain folder."""
    return materialize.apply(s.feature_repo)


@dataclass(frozen=True)
class Materialized:
    end: datetime
    entities: int  # entity keys compared online against offline


def materialize_and_check(
    s: PipelineSettings, end: datetime | None = None, store=None, seed: int = 0
) -> Materialized:
    """Fill the online store up to `end` (default: the data's watermark), then check that
    online equals offline at `end` on sampled entities of every view."""
    end = end or materialize.watermark(s.offline)
    store = store or materialize.open_store(s.feature_repo)  # opening costs seconds: once
    materialize.materialize_store(store, end)
    entities, mismatches = parity.check(store, end, s.parity_sample, seed)
    if mismatches:
        shown = parity.describe(mismatches)
        raise PipelineError(
            f"online store differs from offline at {end.isoformat()} ({len(mismatches)} "
            f"values): {shown}"
        )
    return Materialized(end, entities)


def changed_months(s: PipelineSettings) -> list[str]:
    """Months of monthly tables the last validation changed (transform reads them all)."""
    from pipelines.storage import read_json

    changed = read_json(s.validated / "_changed.json", {}).get("months", {})
    monthly = [n for n, src in s.domain.sources.items() if src.partition is not None]
    return sorted({m for name in monthly for m in changed.get(name, [])})
