"""Shared fixtures: a whole platform (feature repo + data zones) built in a temporary folder
from the committed slice of real data (45 aircraft over the first week of January 2013)."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["TZ"] = "UTC"  # Feast's SQLite store writes local time; every process runs in UTC

from pipelines import __main__ as pipeline_cli  # noqa: E402
from pipelines.settings import PipelineSettings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "flights_jan"


def new_platform(base: Path, source: Path = FIXTURE) -> PipelineSettings:
    """A copy of the feature repo under `base`, its data zones beside it, nothing run yet."""
    shutil.copytree(
        ROOT / "feature_repo", base / "feature_repo", ignore=shutil.ignore_patterns("__pycache__")
    )
    return PipelineSettings(feature_repo=base / "feature_repo", source_dir=source)


def run_stages(settings: PipelineSettings, *stages: str) -> None:
    for stage in stages:
        pipeline_cli.STAGES[stage](settings)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> PipelineSettings:
    """Ingested, validated, transformed, applied and materialized: read it, don't write to it."""
    settings = new_platform(tmp_path_factory.mktemp("platform"))
    run_stages(settings, *pipeline_cli.STAGES)
    return settings


@pytest.fixture
def fresh_platform(tmp_path: Path) -> PipelineSettings:
    """A platform of one's own, with nothing run: for tests that write."""
    return new_platform(tmp_path)


@pytest.fixture(scope="session")
def mlflow_fallback(tmp_path_factory: pytest.TempPathFactory) -> str:
    """MLflow's process-wide store, used by code that names none, in a temp folder: without
    it, a test that restores the default would leave an `mlflow.db` in the working dir."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow_default') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def mlflow_isolated(mlflow_fallback: str) -> Iterator[None]:
    """Each test starts, and leaves, MLflow on the fallback store and MLFLOW_TRACKING_URI out
    of the environment: `mlflow.set_tracking_uri` also writes that variable, so a store one
    test pointed MLflow at would otherwise become the default of every later one."""
    _point_mlflow(mlflow_fallback)
    yield
    _point_mlflow(mlflow_fallback)


def _point_mlflow(uri: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
