"""The MLflow tracking server of the server tier (`make services-up`: `mlflow server` over
PostgreSQL, artifacts served from its own folder): a model trained against it is tracked and
registered there, and two serving replicas behind one port (`python -m serving --workers 2`)
serve its champion, each moving to a newly promoted version by itself, with no request failing
on the way."""

import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow import MlflowClient

from larder import tier as tiers
from larder.tier import open_store
from tests.serving.conftest import http_json, known_request, serving_process
from tests.tiers.conftest import embedded
from tests.training.conftest import slice_settings
from training.train import train

pytestmark = pytest.mark.tiers

TRACKING = f"http://127.0.0.1:{os.environ.get('LARDER_MLFLOW_PORT', '5000')}"


@pytest.fixture(scope="module")
def tracked(platforms):
    """The flights slice's model trained against the tracking server, under a name of its
    own (the server outlives the run): (platform, model name, the server's client)."""
    with embedded():
        platform = platforms("flights")
        name = f"tier_tracking_{os.getpid()}_{time.time_ns()}"
        settings = slice_settings(
            platform, mlflow_tracking_uri=TRACKING, model_name=name, tune_budget=0
        )
        train(settings)
    return platform, name, MlflowClient(TRACKING)


def test_training_tracks_and_registers_on_the_server(tracked) -> None:
    _, name, client = tracked
    version = client.get_model_version_by_alias(name, "champion")
    assert version.version == "1"
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics
    # The artifacts went to the server (its artifact proxy), not to a folder of this machine.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert client.list_artifacts(version.run_id)


def _served_by_worker(url: str) -> dict[str, set[str]]:
    """The model versions each worker says it serves (larder_model_served, one sample per
    worker process)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"{url}/metrics", timeout=30).read().decode()
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "larder_model_served":
                versions = found.setdefault(sample.labels["pid"], set())
                if sample.value == 1:
                    versions.add(sample.labels["version"])
    return found


def test_a_promotion_reaches_both_replicas_and_no_request_fails(tracked, tmp_path) -> None:
    platform, name, client = tracked
    first = client.get_model_version(name, "1")
    # A second version of the same run (the gate's own decision is tested in tests/training):
    # what is under test is the alias moving on the server and every replica following it.
    second = client.copy_model_version(f"models:/{name}/1", name)
    for key, value in first.tags.items():  # the contract the server checks
        client.set_model_version_tag(name, second.version, key, value)
    with embedded():
        request = known_request(platform, open_store(platform.feature_repo))
    env = {
        **{k: v for k, v in os.environ.items() if k != tiers.TIER},
        "TZ": "UTC",
        "LARDER_FEATURE_REPO": str(platform.feature_repo),
        "MLFLOW_TRACKING_URI": TRACKING,
        "LARDER_MODEL_NAME": name,
        "LARDER_RELOAD_INTERVAL_S": "0.5",
        "LARDER_LOG_DIR": str(tmp_path / "predictions"),
    }
    with serving_process(env, workers=2) as url:
        for _ in range(300):  # /ready answered from the first worker up; wait for the second
            workers = _served_by_worker(url)
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert list(workers.values()) == [{"1"}, {"1"}], workers
        with ThreadPoolExecutor(8) as pool:
            before = list(pool.map(lambda _: http_json(f"{url}/predict", request), range(64)))
            assert {(s, a.get("model", {}).get("version")) for s, a in before} == {(200, "1")}
            client.set_registered_model_alias(name, "champion", second.version)
            answers, deadline = [], time.monotonic() + 60
            while time.monotonic() < deadline:
                batch = list(pool.map(lambda _: http_json(f"{url}/predict", request), range(32)))
                answers += batch
                if all(a.get("model", {}).get("version") == "2" for _, a in batch):
                    break
            for _ in range(100):  # each worker polls the alias by itself
                workers = _served_by_worker(url)
                if all(versions == {second.version} for versions in workers.values()):
                    break
                time.sleep(0.2)
        failed = [(s, a) for s, a in answers if s != 200]
        assert not failed, failed[:3]
        assert answers[-1][1]["model"]["version"] == second.version
        assert len(workers) == 2, workers
        assert all(versions == {second.version} for versions in workers.values()), workers
