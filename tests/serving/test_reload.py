"""The champion is reloaded when its alias moves, by the poll and by the admin call, while
requests keep flowing: none fails, and each answers with one whole model version."""

import os
import shutil
import threading
import time

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app

TOKEN = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def registry(platform, tmp_path):
    """A copy of the session's MLflow store (so moving its alias touches no other test)."""
    import mlflow

    folder = tmp_path / "mlflow"
    shutil.copytree(platform.data_dir / "mlflow_serving_tests", folder)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return uri, mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def new_version(client) -> str:
    """Version 2: the same artifact and contract, registered again."""
    first = client.get_model_version("flight_delay", "1")
    source = client.get_model_version_download_uri("flight_delay", "1")  # a path, not models:/
    second = client.create_model_version("flight_delay", source, run_id=first.run_id)
    for key in ("feature_service", "feature_names", "feature_types"):
        client.set_model_version_tag("flight_delay", second.version, key, first.tags[key])
    return str(second.version)


def hammer(client: TestClient, flight: dict, stop: threading.Event, seen: list) -> None:
    while not stop.is_set():
        response = client.post("/predict", json=flight)
        seen.append((response.status_code, response.json().get("model", {}).get("version")))


def _served(text: str) -> dict[str, float]:
    """larder_model_served of this process, by version."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.labels["version"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "larder_model_served"
        and sample.labels.get("pid", str(os.getpid())) == str(os.getpid())
        and sample.labels["model"] == "flight_delay"
    }


def test_the_alias_moving_under_load_fails_no_request(serving_settings, registry, known_flight):
    uri, mlflow_client = registry
    settings = serving_settings.model_copy(
        update={"mlflow_tracking_uri": uri, "reload_interval_s": 0.2}
    )
    with TestClient(create_app(settings)) as client:
        stop, seen = threading.Event(), [[] for _ in range(4)]
        threads = [
            threading.Thread(target=hammer, args=(client, known_flight, stop, s)) for s in seen
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        mlflow_client.set_registered_model_alias(
            "flight_delay", "champion", new_version(mlflow_client)
        )
        deadline = time.monotonic() + 20
        while (
            client.get("/ready").json()["model"]["version"] != "2" and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
        served = _served(client.get("/metrics").text)
    assert served == {"1": 0.0, "2": 1.0}  # the metric says which version the worker serves
    for answers in seen:
        assert {code for code, _ in answers} == {200}
        versions = [v for _, v in answers]
        assert versions == sorted(versions) and versions[0] == "1" and versions[-1] == "2"


def test_the_admin_call_reloads_at_once(serving_settings, registry, known_flight) -> None:
    uri, mlflow_client = registry
    settings = serving_settings.model_copy(
        update={"mlflow_tracking_uri": uri, "reload_interval_s": 0, "admin_token": "s3cret"}
    )
    with TestClient(create_app(settings)) as client:
        assert client.post("/admin/reload", headers=TOKEN).json()["reloaded"] is False
        mlflow_client.set_registered_model_alias(
            "flight_delay", "champion", new_version(mlflow_client)
        )
        answer = client.post("/admin/reload", headers=TOKEN).json()
        assert answer == {"reloaded": True, "model": {"name": "flight_delay", "version": "2"}}
        assert client.post("/predict", json=known_flight).json()["model"]["version"] == "2"
        mlflow_client.delete_registered_model_alias("flight_delay", "champion")
        # A reload that fails says why and keeps serving what it had.
        assert client.post("/admin/reload", headers=TOKEN).status_code == 503
        assert client.post("/predict", json=known_flight).json()["model"]["version"] == "2"
