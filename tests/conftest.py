"""Shared fixtures: whole platforms (a copy of a domain folder, its data zones inside it) built
in temporary folders from the committed slices of real data, one per domain:

- flights: 45 aircraft over the first week of January 2013 (`tests/fixtures/flights_jan`);
- storms: the Atlantic storms of a few seasons (`tests/fixtures/storms_slice`).

`platform` is the flights platform, `domain_platform` each domain's in turn (for the
platform's promises, which hold on every domain).
"""

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

os.environ["TZ"] = "UTC"  # Feast's SQLite store writes local time; every process runs in UTC

from serving.metrics_folder import own_folder  # noqa: E402

# Each test process (each of pytest-xdist's workers too) keeps its metrics in a folder of its
# own, named before anything imports Feast or prometheus_client: they would otherwise share the
# folder of the process that started them, and one's servers would count in the other's.
own_folder()

from pipelines import stages  # noqa: E402
from pipelines.settings import PipelineSettings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE = FIXTURES / "flights_jan"
FLIGHTS = ROOT / "feature_repo"
STORMS = ROOT / "examples" / "storms"


@dataclass(frozen=True)
class Slice:
    """A domain and the committed slice of its real data the tests build platforms from."""

    name: str
    repo: Path
    data: Path
    validation_start: datetime  # a time split of the slice with both outcomes in each part
    test_start: datetime


SLICES = {
    "flights": Slice(
        "flights", FLIGHTS, FIXTURE, datetime.fromisoformat("2013-01-05T00:00:00+00:00"),
        datetime.fromisoformat("2013-01-06T00:00:00+00:00"),
    ),
    "storms": Slice(
        "storms", STORMS, FIXTURES / "storms_slice",
        datetime.fromisoformat("2020-01-01T00:00:00+00:00"),
        datetime.fromisoformat("2021-01-01T00:00:00+00:00"),
    ),
}  # fmt: skip

RUN: dict[str, Callable[[PipelineSettings], object]] = {
    "ingest": stages.ingest,
    "validate": stages.validate,
    "transform": stages.transform,
    "apply": stages.apply,
    "materialize": stages.materialize_and_check,
}


def new_platform(
    base: Path, source: Path | None = FIXTURE, repo: Path = FLIGHTS
) -> PipelineSettings:
    """A copy of a domain folder under `base`, nothing run yet; `source` is its landing (None:
    the domain's sample data)."""
    copy = base / repo.name
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    return PipelineSettings(feature_repo=copy, landing=source)


def slice_platform(base: Path, name: str) -> PipelineSettings:
    found = SLICES[name]
    return new_platform(base, found.data, found.repo)


def run_stages(settings: PipelineSettings, *names: str) -> None:
    for name in names:
        RUN[name](settings)


@pytest.fixture(scope="session")
def platforms(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], PipelineSettings]:
    """A built platform per domain, made once when first asked for: read it, don't write."""
    built: dict[str, PipelineSettings] = {}

    def get(name: str) -> PipelineSettings:
        if name not in built:
            settings = slice_platform(tmp_path_factory.mktemp(f"platform-{name}"), name)
            run_stages(settings, *RUN)
            built[name] = settings
        return built[name]

    return get


@pytest.fixture(scope="session")
def platform(platforms) -> PipelineSettings:
    """The flights platform: ingested, validated, transformed, applied and materialized."""
    return platforms("flights")


@pytest.fixture(scope="session", params=list(SLICES))
def domain_platform(request, platforms) -> PipelineSettings:
    """Each domain's built platform in turn."""
    return platforms(request.param)


@pytest.fixture
def fresh_platform(tmp_path: Path) -> PipelineSettings:
    """A flights platform of one's own, with nothing run: for tests that write."""
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


def table_file(folder: Path, table: str) -> Path:
    """The file of `table` in a slice folder (`flights.csv.zip`, `storms.parquet`, ...)."""
    (found,) = [p for p in folder.iterdir() if p.name.split(".")[0] == table]
    return found
