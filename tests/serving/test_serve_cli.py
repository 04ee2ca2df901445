"""`python -m serving` and its settings: flags over environment over defaults; a start that
fails, with any number of workers, is one line naming what is broken and a non-zero status."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from larder import state
from serving import __main__ as cli
from serving import metrics_folder
from serving.app import create_app, worker_app
from serving.settings import ServingSettings
from tests.serving.conftest import serving_process


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict:
    """What uvicorn was started with (it is not actually started)."""
    calls: dict = {}
    monkeypatch.setattr(cli, "rehearse_start", lambda settings: None)
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kwargs: calls.update(kwargs, app=app))
    monkeypatch.setattr(
        cli,
        "supervise",
        lambda app, workers, options: calls.update(options, app=app, workers=workers) or 0,
    )
    return calls


def test_it_listens_on_port_8000_by_default(served) -> None:
    cli.main([])
    assert served["port"] == 8000 and served["host"] == "127.0.0.1"


def test_flags_choose_host_and_port(served) -> None:
    cli.main(["--host", "0.0.0.0", "--port", "8001"])
    assert (served["host"], served["port"]) == ("0.0.0.0", 8001)


def test_settings_come_from_larder_env_vars(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LARDER_FEATURE_REPO", str(tmp_path / "repo"))
    monkeypatch.setenv("LARDER_MODEL_ALIAS", "challenger")
    monkeypatch.setenv("LARDER_PORT", "9000")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = ServingSettings()
    assert (settings.model_alias, settings.port) == ("challenger", 9000)
    assert (
        settings.tracking_uri == f"sqlite:///{tmp_path / 'repo' / 'data' / 'mlflow' / 'mlflow.db'}"
    )


def test_the_tracking_uri_is_mlflows_own_variable(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert ServingSettings().tracking_uri == "http://mlflow:5000"


def test_several_workers_get_the_app_factory_and_shared_metrics(served, monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROCESS_DIR", raising=False)
    cli.main(["--workers", "2", "--no-access-log"])
    assert served["app"] == "serving.app:worker_app"
    assert (served["workers"], served["access_log"]) == (2, False)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == os.environ["PROMETHEUS_MULTIPROCESS_DIR"]


def test_the_metrics_folder_is_the_servers_own(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "inherited"))
    monkeypatch.setenv("PROMETHEUS_MULTIPROCESS_DIR", str(tmp_path / "inherited"))
    monkeypatch.delenv(metrics_folder.FOLDER, raising=False)
    fresh = metrics_folder.own_folder()
    assert fresh.is_dir() and fresh != tmp_path / "inherited"
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(fresh)
    named = tmp_path / "named"
    named.mkdir()
    (named / "counter_123.db").write_bytes(b"an earlier run's")
    monkeypatch.setenv(metrics_folder.FOLDER, str(named))
    assert metrics_folder.own_folder() == named and not list(named.iterdir())


def test_a_server_started_by_a_feast_process_counts_in_its_own_folder(
    platform, tracking_uri, known_flight, tmp_path
) -> None:
    """`import feast` names a metrics folder for its process and every child inherits the
    name: a server started from such a process must neither write there nor read the files
    other processes left there (serving/metrics_folder.py)."""
    import httpx

    inherited = tmp_path / "inherited"
    inherited.mkdir()
    env = {
        **os.environ,
        "TZ": "UTC",
        "PROMETHEUS_MULTIPROC_DIR": str(inherited),
        "PROMETHEUS_MULTIPROCESS_DIR": str(inherited),
        "LARDER_FEATURE_REPO": str(platform.feature_repo),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "LARDER_RELOAD_INTERVAL_S": "0",
        "LARDER_LOG_DIR": str(tmp_path / "predictions"),
    }
    env.pop(metrics_folder.FOLDER, None)
    with serving_process(env) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/predict", json=known_flight).status_code == 200
        text = client.get("/metrics").text
    assert 'larder_predictions_total{model_version="1"} 1.0' in text
    assert not list(inherited.iterdir()), "the server wrote into its parent's folder"


def test_without_a_champion_it_says_so_in_one_line_and_exits_2(
    platform, monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setenv("LARDER_FEATURE_REPO", str(platform.feature_repo))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    monkeypatch.delenv("LARDER_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main([])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "flight_delay@champion" in err and "Traceback" not in err


def test_the_example_body_is_a_request_the_server_takes(
    platform, client, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("LARDER_FEATURE_REPO", str(platform.feature_repo))
    cli.main(["--example"])
    body = json.loads(capsys.readouterr().out)
    assert set(body) == {"tailnum", "carrier", "origin", "dest", "scheduled_departure", "distance"}
    assert client.post("/predict", json=body).status_code == 200


@dataclass(frozen=True)
class Copy:
    repo: Path
    mlflow: Path


@pytest.fixture
def copy(platform, tracking_uri, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Copy:
    """The served platform's domain folder and MLflow store, copied, for `python -m serving`
    (through the environment, as workers read it) to start from; uvicorn is never started."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(
        platform.feature_repo, repo, ignore=shutil.ignore_patterns("mlflow*", "predictions")
    )
    mlflow = tmp_path / "mlflow.db"
    shutil.copy(state.mlflow_path(tracking_uri), mlflow)  # type: ignore[arg-type]
    monkeypatch.setenv("LARDER_FEATURE_REPO", str(repo))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{mlflow}")
    monkeypatch.delenv("LARDER_DEBUG", raising=False)
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    monkeypatch.setattr(cli, "supervise", lambda *a, **k: pytest.fail("must not start"))
    return Copy(repo, mlflow)


def truncate(path: Path) -> None:
    for leftover in path.parent.glob(f"{path.name}-*"):  # SQLite's -wal and -shm
        leftover.unlink()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def drop_artifacts(copy: Copy) -> None:
    """The model version's artifacts, gone (the copy's version points where nothing is)."""
    with sqlite3.connect(copy.mlflow) as db:
        db.execute("UPDATE model_versions SET storage_location = ?", (str(copy.repo / "gone"),))


BREAKS = {
    "registry deleted": (lambda c: state.registry_path(c.repo).unlink(), ["registry", "missing"]),
    "registry truncated": (lambda c: truncate(state.registry_path(c.repo)), ["registry"]),
    "online store truncated": (lambda c: truncate(state.online_path(c.repo)), ["online store"]),
    "online store deleted": (lambda c: state.online_path(c.repo).unlink(), ["online store"]),
    "MLflow store truncated": (lambda c: truncate(c.mlflow), ["MLflow store", "corrupt"]),
    "model artifacts deleted": (drop_artifacts, ["artifacts", "gone", "training train"]),
}


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("broken", list(BREAKS))
def test_a_broken_start_is_one_line_and_status_2(copy, capsys, broken, workers) -> None:
    breaking, named = BREAKS[broken]
    breaking(copy)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--workers", workers])
    assert exit_.value.code == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "Traceback" not in said, said
    for part in named:
        assert part in said, said


def test_larder_debug_raises_the_error_itself(copy, monkeypatch) -> None:
    state.registry_path(copy.repo).unlink()
    monkeypatch.setenv("LARDER_DEBUG", "1")
    with pytest.raises(state.StateError, match="registry"):
        cli.main([])


def test_a_workers_failed_start_is_the_one_line_uvicorn_logs(copy) -> None:
    state.registry_path(copy.repo).unlink()
    app = create_app(ServingSettings())
    sent: list[dict] = []

    async def start() -> None:
        async def receive() -> dict:
            return {"type": "lifespan.startup"}

        async def send(message: dict) -> None:
            sent.append(message)

        with contextlib.suppress(Exception):
            await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    asyncio.run(start())
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "\n" not in sent[0]["message"] and "registry" in sent[0]["message"]


def test_a_worker_whose_app_cannot_be_built_stops_with_uvicorns_startup_failure(
    monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setenv("LARDER_FEATURE_REPO", str(tmp_path / "nowhere"))
    monkeypatch.delenv("LARDER_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        worker_app()
    assert exit_.value.code == 3  # uvicorn's STARTUP_FAILURE: its supervisor does not restart
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "nowhere" in said and "Traceback" not in said


def test_workers_that_fail_to_start_stop_the_server_with_a_non_zero_status(capsys) -> None:
    """uvicorn's own `run(workers=2)` would return status 0 here."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        options = {"host": "127.0.0.1", "port": port, "access_log": False}
        status = cli.supervise("tests.serving.failing_app:create", 2, options)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert status == 3
    assert "a worker failed to start" in capsys.readouterr().err
