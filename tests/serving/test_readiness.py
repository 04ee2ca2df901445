"""`/ready` says ready only once the store and the model have answered a first read and
prediction, and only while the online store passes SQLite's quick_check; a store that breaks
under a running server makes `/ready` a 503 naming it, and reads 503s, never 500s. Each test
breaks a copy of the platform, never the session's."""

import logging
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from larder import state
from serving.app import create_app
from serving.errors import WarmUpError


@pytest.fixture
def copied(platform, serving_settings, tmp_path: Path):
    """Serving settings over a copy of the platform's domain folder (and its data)."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(
        platform.feature_repo, repo, ignore=shutil.ignore_patterns("mlflow*", "predictions")
    )
    return serving_settings.model_copy(
        update={"feature_repo": repo, "reload_interval_s": 0, "integrity_check_s": 0}
    )


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_not_ready_before_the_store_and_model_have_answered(serving_settings) -> None:
    client = TestClient(create_app(serving_settings))  # its startup has not run
    response = client.get("/ready")
    assert response.status_code == 503 and "starting" in response.json()["detail"]


def test_a_store_truncated_under_a_running_server_is_not_ready_and_reads_are_503(
    copied, known_flight
) -> None:
    online = state.online_path(copied.feature_repo)
    assert online is not None
    with TestClient(create_app(copied)) as client:
        assert client.get("/ready").status_code == 200
        truncate(online)
        response = client.get("/ready")
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert str(online) in detail and "corrupt" in detail and "materialize" in detail
        read = {"entities": {"tailnum": ["N0NE"]}, "features": ["aircraft_history:flights_7d"]}
        for path, body in (("/predict", known_flight), ("/get-online-features", read)):
            answer = client.post(path, json=body)
            assert answer.status_code in (200, 503), answer.text
            if answer.status_code == 503:
                assert "online store" in answer.json()["detail"]


def test_a_registry_broken_under_a_running_server_is_one_log_line_per_poll(
    copied, known_flight, caplog
) -> None:
    registry = state.registry_path(copied.feature_repo)
    settings = copied.model_copy(update={"reload_interval_s": 0.05})
    with (
        caplog.at_level(logging.ERROR, logger="serving"),
        TestClient(create_app(settings)) as client,
    ):
        registry.write_bytes(b"\xff" * 64)  # what no protobuf parses
        deadline = time.monotonic() + 20
        while not polls(caplog) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.post("/predict", json=known_flight).status_code == 200  # still serving
    failed = polls(caplog)[0]
    said = failed.getMessage()
    assert str(registry) in said and "corrupt" in said and "\n" not in said
    assert failed.exc_info is None  # no traceback


def polls(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "serving.reload"]


def test_a_store_that_cannot_answer_a_read_stops_the_start(copied) -> None:
    online = state.online_path(copied.feature_repo)
    with sqlite3.connect(online) as db:  # quick_check still passes: the tables are not the store's
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            db.execute(f'DROP TABLE "{table}"')
            db.execute(f'CREATE TABLE "{table}" (entity_key BLOB)')
    with (
        pytest.raises(WarmUpError, match="does not answer a read") as failed,
        TestClient(create_app(copied)),
    ):
        pass
    assert str(online) in str(failed.value) and "materialize" in str(failed.value)
