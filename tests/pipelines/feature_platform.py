"""A platform whose validated zone is written straight from source frames, for the feature
jobs' tests: they test the jobs, not ingest and validate."""

from pathlib import Path

import polars as pl

from pipelines.ingest import read_source
from pipelines.settings import PipelineSettings
from pipelines.tables import TABLES, partition_of
from tests.conftest import FIXTURE, new_platform


def source_frames(source: Path = FIXTURE) -> dict[str, pl.DataFrame]:
    return {name: read_source(t, source / t.file) for name, t in TABLES.items()}


def write_validated(settings: PipelineSettings, frames: dict[str, pl.DataFrame]) -> None:
    """Each table's rows as validated month partitions (`month=YYYY-MM/part.parquet`)."""
    for name, frame in frames.items():
        labelled = frame.with_columns(_month=partition_of(TABLES[name]))
        for (month,), part in labelled.group_by("_month"):
            path = settings.validated / name / f"month={month}" / "part.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            part.drop("_month").write_parquet(path)


def feature_platform(base: Path, frames: dict[str, pl.DataFrame]) -> PipelineSettings:
    settings = new_platform(base)
    write_validated(settings, frames)
    return settings
