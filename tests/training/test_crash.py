"""Training and promotion killed with SIGKILL (real `python -m training` processes, at the named
moments of training.crashpoints) leave every registered version whole or absent and every
decision recorded once; a server sharing the MLflow store with a promotion answers throughout,
then serves the new champion.

Each test works on its own copy of the flights platform and of its MLflow store."""

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pandas as pd
import pytest
from pydantic import SecretStr
from sklearn.dummy import DummyClassifier

from pipelines.settings import PipelineSettings
from tests.conftest import ROOT
from tests.serving.conftest import known_request
from tests.serving.live import live
from tests.training.conftest import slice_settings
from training import promote, registry
from training.contract import ModelContract
from training.crashpoints import VARIABLE
from training.frames import feature_schema, open_store
from training.prepare import prepare
from training.settings import TrainingSettings
from training.train import train

KILLED = -signal.SIGKILL
TOKEN = {"Authorization": "Bearer s3cret"}


def copy_repo(repo: Path, base: Path) -> Path:
    """The domain folder with its data, without the MLflow stores other tests keep in it."""
    copy = base / repo.name
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns("mlflow*", "__pycache__"))
    return copy


def cli(settings: TrainingSettings, *args: str, crash: str | None = None) -> int:
    """`python -m training ARGS` on these settings, killed at `crash`: its exit status."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LARDER_")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env |= {
        "TZ": "UTC",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
        "LARDER_FEATURE_REPO": str(settings.feature_repo),
        "LARDER_MODEL_NAME": settings.model,
        "LARDER_VALIDATION_START": settings.split.validation_start.isoformat(),
        "LARDER_TEST_START": settings.split.test_start.isoformat(),
        "LARDER_TUNE_BUDGET": str(settings.tune_budget),
        "LARDER_BOOTSTRAP_SAMPLES": str(settings.bootstrap_samples),
        "LARDER_LATENCY_BUDGET_MS": str(settings.latency_budget_ms),
        **({VARIABLE: crash} if crash else {}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "training", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, KILLED), done.stderr
    return done.returncode


def whole_versions(settings: TrainingSettings) -> list[str]:
    """The registered versions, each checked whole: its contract, its closed run with the test
    start it was scored from, a model that loads."""
    client = registry.client(settings)
    found = client.search_model_versions(f"name = '{settings.model}'")
    for version in found:
        promote.load_version(client, settings.model, str(version.version))
        assert client.get_run(version.run_id).info.status == "FINISHED"
    return sorted(str(version.version) for version in found)


def aliases(settings: TrainingSettings) -> dict[str, str]:
    client = registry.client(settings)
    if not client.search_registered_models(f"name = '{settings.model}'"):
        return {}
    found = client.get_registered_model(settings.model).aliases
    return {alias: str(version) for alias, version in found.items()}


def decisions(settings: TrainingSettings) -> list[tuple[str, str, str]]:
    """(decision, state, run status) of each decision run on record, oldest first."""
    client = registry.client(settings)
    experiment = client.get_experiment_by_name(settings.decisions_experiment)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.model_name = '{settings.model}'",
        order_by=["attributes.start_time ASC"],
    )
    return [(r.data.tags["decision"], r.data.tags[promote.STATE], r.info.status) for r in runs]


def champion_loads(settings: TrainingSettings) -> str:
    """The champion as serving loads it: its version."""
    from serving.model import load_champion

    return load_champion(settings.tracking_uri, settings.model, registry.CHAMPION).version


@pytest.fixture(scope="module")
def repo(platform: PipelineSettings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(platform.feature_repo, tmp_path_factory.mktemp("crash"))


@pytest.fixture(scope="module")
def frame_path(platform: PipelineSettings, repo: Path) -> Path:
    """The training frame, saved once: the killed trainings start from it (`--frame`)."""
    return prepare(slice_settings(platform, feature_repo=repo)).path


def test_a_training_killed_after_registering_leaves_a_whole_version(
    platform: PipelineSettings, repo: Path, frame_path: Path, tmp_path: Path
):
    settings = slice_settings(platform, feature_repo=copy_repo(repo, tmp_path), tune_budget=0)

    assert cli(settings, "train", "--frame", str(frame_path), crash="registered") == KILLED
    # created with its contract and Feast's tag in one call; no alias names it yet
    assert whole_versions(settings) == ["1"] and aliases(settings) == {}
    tags = registry.client(settings).get_model_version(settings.model, "1").tags
    assert tags["feast.feature_service"] == tags["feature_service"] == settings.service


def register_weak(settings: TrainingSettings) -> str:
    """A version that predicts the same for everyone, registered as training registers one."""
    import mlflow

    schema = feature_schema(settings)
    names = list(schema)
    weak = DummyClassifier(strategy="prior").fit(pd.DataFrame(0.0, [0, 1], names), [0, 1])
    feast = registry.feast_client(open_store(settings.feature_repo), settings)
    with mlflow.start_run(experiment_id=registry.use_tracking(settings)):
        mlflow.log_param("test_start", settings.split.test_start.isoformat())
        uri = registry.log_model(feast, weak, names)
    return registry.register(settings, feast, uri, ModelContract(settings.service, schema))


@pytest.fixture(scope="module")
def contest(platform: PipelineSettings, repo: Path, frame_path: Path) -> TrainingSettings:
    """A weak version 1 @champion and a trained version 2 @challenger that the gate promotes."""
    # Tuned a little: the default parameters' edge over a constant is within the noise of
    # the slice's 102 held-out flights. The latency budget is wide: these tests are about
    # kills, and a busy machine must not make the gate refuse.
    settings = slice_settings(
        platform, feature_repo=repo, model_name="crash_gate", latency_budget_ms=10_000
    )
    register_weak(settings)
    assert promote.promote(settings).action == promote.FIRST
    assert train(settings, saved_frame=frame_path).version == "2"
    return settings


def contest_copy(contest: TrainingSettings, base: Path) -> TrainingSettings:
    copy = base / "repo"
    shutil.copytree(contest.feature_repo, copy)
    return contest.model_copy(update={"feature_repo": copy})


def test_a_promotion_killed_before_the_move_is_carried_out_once(
    contest: TrainingSettings, tmp_path: Path
):
    settings = contest_copy(contest, tmp_path)

    assert cli(settings, "promote", crash="decision-made") == KILLED
    assert champion_loads(settings) == "1"
    assert decisions(settings)[1:] == [(promote.PROMOTE, promote.PENDING, "RUNNING")]

    decision = promote.promote(settings)  # carries out the decision on record, decides no other
    assert (decision.action, decision.champion_before, decision.champion_after) == (
        promote.PROMOTE,
        "1",
        "2",
    )
    assert decision.metrics["gain_ci_low"] > 0
    assert champion_loads(settings) == "2" and whole_versions(settings) == ["1", "2"]
    assert decisions(settings)[1:] == [(promote.PROMOTE, promote.DONE, "FINISHED")]
    tags = registry.client(settings).get_model_version(settings.model, "2").tags
    assert tags[registry.PREVIOUS] == "1"
    assert tags["last_decision"] == f"promote ({decision.run_id})"


def _ask(url: str, request: dict, stop: threading.Event, seen: list) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            response = client.post("/predict", json=request)
            seen.append((response.status_code, response.json().get("model", {}).get("version")))
            stop.wait(0.02)


def test_a_server_answers_throughout_a_promotion_killed_after_the_move(
    contest: TrainingSettings, tmp_path: Path
):
    """The server polls the store the promotion writes, reloads when the alias moves; the
    promotion, killed right after the move, is recorded once when run again."""
    from serving.app import create_app
    from serving.settings import ServingSettings

    settings = contest_copy(contest, tmp_path)
    serving = ServingSettings(
        feature_repo=settings.feature_repo,
        mlflow_tracking_uri=settings.tracking_uri,
        model_name=settings.model,
        reload_interval_s=0.2,
        admin_token=SecretStr("s3cret"),
    )
    request = known_request(
        PipelineSettings(feature_repo=settings.feature_repo), open_store(settings.feature_repo)
    )
    stop, seen = threading.Event(), list[tuple[int, str | None]]()
    with live(create_app(serving)) as url:
        asking = threading.Thread(target=_ask, args=(url, request, stop, seen))
        asking.start()
        try:
            assert cli(settings, "promote", crash="decision-moved") == KILLED
            reloaded = httpx.post(f"{url}/admin/reload", headers=TOKEN, timeout=60).json()
            assert reloaded["model"]["version"] == "2"
            assert promote.promote(settings).champion_after == "2"  # the record, finished
            stop.wait(0.3)
        finally:
            stop.set()
            asking.join()
        after = httpx.post(f"{url}/predict", json=request, timeout=30).json()
    assert after["model"]["version"] == "2"
    assert {code for code, _ in seen} == {200}
    versions = [str(version) for _, version in seen]
    assert versions == sorted(versions) and versions[0] == "1" and versions[-1] == "2"
    assert decisions(settings)[1:] == [(promote.PROMOTE, promote.DONE, "FINISHED")]
