"""`python -m serving` and its settings: flags over environment over defaults."""

import json
import os

import pytest

from serving import __main__ as cli
from serving.settings import ServingSettings


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict:
    """What uvicorn.run was called with (it is not actually started)."""
    calls: dict = {}
    monkeypatch.setattr(cli, "check_champion", lambda settings: None)
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kwargs: calls.update(kwargs, app=app))
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
    cli.main(["--workers", "2", "--no-access-log"])
    assert served["app"] == "serving.app:create_app" and served["factory"] is True
    assert (served["workers"], served["access_log"]) == (2, False)
    assert os.environ.pop("PROMETHEUS_MULTIPROC_DIR")


def test_without_a_champion_it_says_so_in_one_line_and_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
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
    assert set(body) == {"tailnum", "carrier", "origin", "scheduled_departure", "distance"}
    assert client.post("/predict", json=body).status_code == 200
