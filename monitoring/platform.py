"""The replay's own platform: a copy of the domain folder with its data zones inside it, fed
one drop at a time through the pipelines' stages (`pipelines.stages`), as `python -m
pipelines` runs them."""

import shutil
from datetime import datetime
from pathlib import Path

from monitoring.errors import ParityError, ReplayError
from pipelines import stages
from pipelines.errors import PipelineError
from pipelines.settings import PipelineSettings


def create(repo: Path, copy: Path, parity_sample: int) -> PipelineSettings:
    """A fresh copy of the domain folder `repo` at `copy` (anything there before is removed)."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    return PipelineSettings(feature_repo=copy, parity_sample=parity_sample)


def load(pipes: PipelineSettings, landing: Path, full: bool = False) -> list[str]:
    """ingest -> validate -> transform of one drop; the source months it changed. What the
    stages say besides their result (late data, quality report paths) goes to a log file."""
    log = pipes.data_dir / "pipelines.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as sink:

        def say(line: str) -> None:
            sink.write(line + "\n")

        try:
            stages.ingest(pipes, landing, say=say)
            stages.validate(pipes, say=say)
            months = stages.changed_months(pipes)
            if months:
                stages.transform(pipes, None if full else months)
        except (PipelineError, FileNotFoundError) as exc:
            raise ReplayError(f"the drop {landing.name} failed in the pipelines: {exc}") from exc
    return months


def fill_online(store, pipes: PipelineSettings, end: datetime, seed: int) -> int:
    """Materialize up to `end`, then check online = offline at `end` on sampled entities; the
    entity keys compared. Any difference is a ParityError naming the first few."""
    try:
        return stages.materialize_and_check(pipes, end, store, seed).entities
    except PipelineError as exc:
        raise ParityError(f"after materializing up to {end.isoformat()}: {exc}") from exc
