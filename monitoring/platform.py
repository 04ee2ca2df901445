"""The replay's own platform: a copy of the feature repo with its data zones beside it, fed one
drop at a time through the pipelines' stages, as `python -m pipelines` runs them."""

import contextlib
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl

from monitoring.errors import ParityError, ReplayError
from monitoring.settings import ROOT
from pipelines import __main__ as stages
from pipelines import materialize, parity
from pipelines.errors import PipelineError
from pipelines.settings import PipelineSettings
from pipelines.storage import read_json


def create(workdir: Path) -> PipelineSettings:
    """A fresh platform in `workdir` (anything there before is removed)."""
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(
        ROOT / "feature_repo",
        workdir / "feature_repo",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return PipelineSettings(feature_repo=workdir / "feature_repo")


def load(pipes: PipelineSettings, landing: Path, full: bool = False) -> list[str]:
    """ingest -> validate -> transform of one drop; the source months it changed. What the
    stages say besides their result (late data, quality report paths) goes to a log file."""
    log = pipes.data_dir / "pipelines.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as sink, contextlib.redirect_stderr(sink):
        return _load(pipes, landing, full)


def _load(pipes: PipelineSettings, landing: Path, full: bool) -> list[str]:
    try:
        stages.run_ingest(pipes, landing)
        stages.run_validate(pipes)
        months = changed_months(pipes.validated)
        if months:
            stages.run_transform(pipes, None if full else months)
    except (PipelineError, FileNotFoundError) as exc:
        raise ReplayError(f"the drop {landing.name} failed in the pipelines: {exc}") from exc
    return months


def changed_months(validated: Path) -> list[str]:
    """Months of flights or weather the last validation changed (transform reads both)."""
    changed = read_json(validated / "_changed.json", {}).get("months", {})
    return sorted(set(changed.get("flights", [])) | set(changed.get("weather", [])))


def fill_online(store, pipes: PipelineSettings, end: datetime, sample: int, seed: int) -> None:
    """Materialize up to `end`, then check online = offline at `end` on sampled entities."""
    materialize.materialize_store(store, end)
    check_parity(store, pipes, end, sample, seed)


def check_parity(
    store, pipes: PipelineSettings, end: datetime, sample: int, seed: int
) -> tuple[int, int]:
    """Entities seen so far, sampled; any difference is a ParityError naming the first few."""
    flights = pl.read_parquet(pipes.offline / "flights.parquet", columns=list(parity.KEYS))
    entities, mismatches = parity.check(store, flights, end, sample, seed)
    if mismatches:
        raise ParityError(
            f"after materializing up to {end.isoformat()}, {len(mismatches)} online values "
            f"differ from the offline store: {parity.describe(mismatches)}"
        )
    return entities, 0
