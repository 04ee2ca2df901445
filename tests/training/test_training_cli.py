"""`python -m training train`: one line per step, or one clear line saying what is missing."""

import pytest

from pipelines.settings import PipelineSettings
from tests.conftest import run_stages
from training.__main__ import main

STEPS = [
    "examples",
    "frame",
    "validate",
    "split",
    "tune",
    "fit",
    "metrics",
    "mlflow",
    "registry",
    "promotion",
    "card",
]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "WARNING")  # main sets it; undone after


def _use(monkeypatch: pytest.MonkeyPatch, platform: PipelineSettings) -> None:
    monkeypatch.setenv("LARDER_FEATURE_REPO", str(platform.feature_repo))


def test_missing_offline_store_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, fresh_platform: PipelineSettings, capsys
):
    _use(monkeypatch, fresh_platform)
    assert main(["train"]) == 1
    err = capsys.readouterr().err
    assert "no offline examples table" in err and "python -m pipelines run" in err
    assert "Traceback" not in err


def test_missing_registry_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, fresh_platform: PipelineSettings, capsys
):
    run_stages(fresh_platform, "ingest", "validate", "transform")  # never applied
    _use(monkeypatch, fresh_platform)
    assert main(["train"]) == 1
    err = capsys.readouterr().err
    assert "no Feast registry" in err and "python -m pipelines apply" in err
    assert "Traceback" not in err


def test_bad_split_dates_are_refused_before_any_work(monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("LARDER_VALIDATION_START", "2013-12-01")
    assert main(["train"]) == 2
    assert "validation_start must be before test_start" in capsys.readouterr().err


def test_train_prints_one_line_per_step(
    monkeypatch: pytest.MonkeyPatch, platform: PipelineSettings, capsys
):
    _use(monkeypatch, platform)
    monkeypatch.setenv("LARDER_VALIDATION_START", "2013-01-05")
    monkeypatch.setenv("LARDER_TEST_START", "2013-01-06")
    monkeypatch.setenv("LARDER_TUNE_FOLDS", "2")
    monkeypatch.setenv("LARDER_BOOTSTRAP_SAMPLES", "50")
    # its own model (and so experiment), so the champion other tests check stays theirs
    monkeypatch.setenv("LARDER_MODEL_NAME", "flight_delay_cli")
    assert main(["train", "--budget", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("]")[0].lstrip("[") for line in lines] == STEPS
    assert "367 rows x 59 features of flight_delay_v3" in lines[1]
    assert "categorical keys: carrier, origin, dest" in lines[1]
    assert "flight_delay_cli version 1 is now @challenger" in lines[-3]
    assert "first model: version 1 is @champion (decision run " in lines[-2]
    assert "model_card.md" in lines[-1]


def test_promote_without_a_challenger_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, platform: PipelineSettings, capsys
):
    _use(monkeypatch, platform)
    monkeypatch.setenv("LARDER_MODEL_NAME", "flight_delay_none")
    assert main(["promote"]) == 1
    assert "no flight_delay_none@challenger to promote" in capsys.readouterr().err
