"""A champion trained beside each domain's test platform, and clients of the server serving it.

The champion is trained by training itself (no tuning), into an MLflow store of its own in the
platform's data dir, so its version (1) and alias are the serving tests' alone. The flights
fixtures (`serving_settings`, `client`, `store`, `as_of`, `known_flight`) serve the tests that
speak of flights; `domain_server` serves each domain in turn for the platform's promises.
"""

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.materialize import watermark
from pipelines.settings import PipelineSettings
from serving.app import create_app
from serving.settings import ServingSettings
from tests.conftest import ROOT
from training.contract import service_inputs

SERVICE = "flight_delay_v3"  # the task's: what the champion is trained on
MODEL = "flight_delay"


def champion_uri(platform: PipelineSettings) -> str:
    """An MLflow store in the platform's data dir holding the task's model @champion."""
    from tests.training.conftest import slice_settings
    from training.train import train

    folder = platform.data_dir / "mlflow_serving_tests"
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    if not folder.exists():
        folder.mkdir()
        train(slice_settings(platform, mlflow_tracking_uri=uri, tune_budget=0))
    return uri


@dataclass(frozen=True)
class Served:
    """A domain's platform, the server's settings, a client of it and a request it knows."""

    platform: PipelineSettings
    settings: ServingSettings
    client: TestClient
    store: Any
    as_of: Any
    request: dict  # the last example before the watermark, an hour later


def known_request(platform: PipelineSettings, store) -> dict:
    """A request for the entity whose example came last before the data's end, an hour on."""
    task = platform.domain.task
    end = watermark(platform.offline)
    examples = pd.read_parquet(platform.offline / f"{task.examples}.parquet")
    service = store.get_feature_service(task.feature_service)
    keys, requested = service_inputs(store, service)
    fields = [*keys, *requested, *([task.time] if task.time not in keys + requested else [])]
    done = examples.dropna(subset=fields)
    last = done[done[task.time] - task.lead <= end].sort_values(task.time).iloc[-1]
    request = {name: _plain(last[name]) for name in fields}
    request[task.time] = (end + task.lead + timedelta(hours=1)).isoformat()
    return request


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _store(platform: PipelineSettings):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(platform.feature_repo))


@pytest.fixture(scope="session")
def domain_server(domain_platform: PipelineSettings) -> Iterator[Served]:
    """Each domain served in turn (with its own champion), as of its data's watermark."""
    settings = ServingSettings(
        feature_repo=domain_platform.feature_repo,
        mlflow_tracking_uri=champion_uri(domain_platform),
        reload_interval_s=0,
    )
    store = _store(domain_platform)
    with TestClient(create_app(settings)) as client:
        yield Served(
            domain_platform,
            settings,
            client,
            store,
            watermark(domain_platform.offline),
            known_request(domain_platform, store),
        )


@pytest.fixture(scope="session")
def store(platform: PipelineSettings):
    return _store(platform)


@pytest.fixture(scope="session")
def tracking_uri(platform: PipelineSettings) -> str:
    return champion_uri(platform)


@pytest.fixture(scope="session")
def serving_settings(platform: PipelineSettings, tracking_uri: str) -> ServingSettings:
    return ServingSettings(feature_repo=platform.feature_repo, mlflow_tracking_uri=tracking_uri)


@pytest.fixture(scope="session")
def client(serving_settings: ServingSettings) -> Iterator[TestClient]:
    """One flights server for the session: loading the store and model takes seconds."""
    with TestClient(create_app(serving_settings)) as client:
        yield client


@pytest.fixture(scope="session")
def as_of(platform: PipelineSettings):
    """The data's watermark: the moment the test platform's online store is current at."""
    return watermark(platform.offline)


@pytest.fixture(scope="session")
def known_flight(platform: PipelineSettings) -> dict:
    """The aircraft that landed last before the data ends, flying again an hour after."""
    end = watermark(platform.offline)
    flights = pd.read_parquet(platform.offline / "flight_outcomes.parquet")
    flights = flights.dropna(subset=["tailnum"])
    last = flights[flights["known_at"] <= end].sort_values("known_at").iloc[-1]
    return {
        "tailnum": last["tailnum"],
        "carrier": last["carrier"],
        "origin": last["origin"],
        "dest": last["dest"],
        "scheduled_departure": (end + timedelta(hours=1)).isoformat(),
        "distance": int(last["distance"]),
    }


@pytest.fixture(scope="session")
def labelled_rows(platform: PipelineSettings) -> tuple[pd.DataFrame, pd.Series]:
    """Point-in-time features (in the service's order, NaN where Feast had none) and labels
    of 300 real flights of the fixture."""
    from tests.training.conftest import slice_settings
    from training.examples import LABEL
    from training.frames import build_training_frame, feature_schema, load_examples

    settings = slice_settings(platform)
    frame = build_training_frame(settings, load_examples(settings).dropna(subset=["tailnum"]))
    frame = frame.head(300)
    return frame[list(feature_schema(settings))], frame[LABEL]


@contextlib.contextmanager
def serving_process(env: dict[str, str], workers: int = 1) -> Iterator[str]:
    """`python -m serving` in a child process with `env`, on a free port, as users start it:
    its base URL once /ready answers 200. Stopped when the block ends."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "serving", "--port", str(port), "--workers", str(workers)]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe, that no log line can fill
        server = subprocess.Popen([*command, "--no-access-log"], cwd=ROOT, env=env, stderr=log)
        try:
            for _ in range(600):
                if server.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"the server stopped: {log.read()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/ready", timeout=30).status_code == 200:
                        break
                time.sleep(0.1)
            else:
                pytest.fail("the server did not answer /ready within 60 s")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def http_json(url: str, body: dict | None = None) -> tuple[int, dict]:
    """(status, JSON body) of one request, on a connection of its own."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"detail": exc.read().decode(errors="replace")}
