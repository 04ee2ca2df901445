"""Training settings: UTC split dates, MLflow beside the data, no files until a run."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from training.settings import TrainingSettings


def test_defaults_point_into_the_data_dir_and_create_nothing(tmp_path: Path):
    repo = tmp_path / "repo"
    settings = TrainingSettings(feature_repo=repo, mlflow_tracking_uri=None)
    assert settings.tracking_uri == f"sqlite:///{repo / 'data' / 'mlflow' / 'mlflow.db'}"
    assert settings.artifact_location == (repo / "data" / "mlflow" / "artifacts").as_uri()
    assert list(tmp_path.iterdir()) == []


def test_the_task_gives_the_defaults_and_settings_override_them():
    settings = TrainingSettings()  # the flights domain
    assert (settings.service, settings.model) == ("flight_delay_v3", "flight_delay")
    assert settings.split.validation_start == datetime(2013, 9, 1, tzinfo=UTC)
    assert settings.split.test_start == datetime(2013, 11, 1, tzinfo=UTC)
    other = TrainingSettings(feature_service="flight_delay_v1", model_name="other")
    assert (other.service, other.model, other.experiment) == ("flight_delay_v1", "other", "other")


def test_tracking_uri_from_the_standard_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    settings = TrainingSettings()
    assert settings.tracking_uri == "http://mlflow.internal:5000"
    assert settings.artifact_location is None  # the server decides where artifacts go


def test_a_sqlite_store_given_by_uri_keeps_its_artifacts_beside_it(tmp_path) -> None:
    settings = TrainingSettings(mlflow_tracking_uri=f"sqlite:///{tmp_path / 'm' / 'mlflow.db'}")
    assert settings.artifact_location == (tmp_path / "m" / "artifacts").as_uri()


def test_split_dates_are_utc_and_ordered(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LARDER_VALIDATION_START", "2013-01-05")
    monkeypatch.setenv("LARDER_TEST_START", "2013-01-06T05:00:00+05:00")
    settings = TrainingSettings()
    assert settings.validation_start == datetime(2013, 1, 5, tzinfo=UTC)
    assert settings.test_start == datetime(2013, 1, 6, tzinfo=UTC)
    with pytest.raises(ValidationError, match="before test_start"):
        TrainingSettings(validation_start="2013-02-01", test_start="2013-01-01")
