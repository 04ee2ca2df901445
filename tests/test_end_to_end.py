"""The whole loop on real data, one domain at a time: ingested, validated, transformed, applied,
materialized (with the parity check), trained on through Feast and MLflow, and served over
HTTP by the FastAPI app.

- flights: the package's flights of January 1-14, 2013, cut from its own CSVs;
- storms: every observation of the domain's sample data, from its own files alone (no
  landing folder is given: the domain folder says where its data comes from).
"""

import io
import zipfile
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from larder.domain import load
from pipelines import sample
from pipelines.materialize import watermark
from serving.app import create_app
from serving.settings import ServingSettings
from tests.conftest import FLIGHTS, STORMS, new_platform, run_stages
from tests.serving.conftest import known_request
from training.settings import TrainingSettings
from training.train import train

pytestmark = pytest.mark.e2e
LAST_DAY = 14


def real_slice(folder: Path) -> Path:
    """The package's own CSVs, flights and weather cut to the first two weeks of January."""
    source = sample.lay_out(load(FLIGHTS), folder.parent / "package")
    folder.mkdir()
    for name in ("airlines.csv", "airports.csv", "planes.csv"):
        (folder / name).write_bytes((source / name).read_bytes())
    first_days = (pl.col("month") == "1") & (pl.col("day").cast(pl.Int64) <= LAST_DAY)
    weather = pl.read_csv(source / "weather.csv", infer_schema=False)
    weather.filter(first_days).write_csv(folder / "weather.csv")
    flights = pl.read_csv(
        zipfile.ZipFile(source / "flights.csv.zip").read("flights.csv"), infer_schema=False
    ).filter(first_days)
    buffer = io.BytesIO()
    flights.write_csv(buffer)
    with zipfile.ZipFile(folder / "flights.csv.zip", "w") as archive:
        archive.writestr("flights.csv", buffer.getvalue())
    return folder


def _serve_and_predict(settings, result) -> None:
    task = settings.domain.task
    serving = ServingSettings(feature_repo=settings.feature_repo)
    from feast import FeatureStore

    request = known_request(settings, FeatureStore(repo_path=str(settings.feature_repo)))
    with TestClient(create_app(serving)) as client:
        assert client.get("/health").status_code == 200
        answer = client.post("/predict", json=request)
        assert answer.status_code == 200, answer.text
        prediction = answer.json()
        assert 0.0 <= prediction[task.answer] <= 1.0
        assert prediction["model"] == {"name": task.name, "version": "1"}
        assert prediction["feature_service"] == task.feature_service
        statuses = {name: f["status"] for name, f in prediction["features"].items()}
        assert set(statuses) == set(result.feature_names)
        assert "present" in statuses.values()
        text_key = next(k for k, v in request.items() if isinstance(v, str) and k != task.time)
        unknown = client.post("/predict", json={**request, text_key: "NO SUCH ONE"}).json()
        assert "not_found" in {f["status"] for f in unknown["features"].values()}
        assert 0.0 <= unknown[task.answer] <= 1.0
        bad = client.post("/predict", json={**request, task.time: "whenever"})
        assert bad.status_code == 422 and task.time in bad.text


def test_the_whole_loop_serves_a_prediction_from_real_flights(tmp_path: Path) -> None:
    settings = new_platform(tmp_path / "platform", source=real_slice(tmp_path / "drop"))
    run_stages(settings, "ingest", "validate", "transform", "apply", "materialize")
    training = TrainingSettings(
        feature_repo=settings.feature_repo,
        validation_start="2013-01-09T00:00:00Z",
        test_start="2013-01-11T00:00:00Z",
    )
    result = train(training)
    assert result.metrics["test_roc_auc"] > 0.5
    assert result.version == "1"
    _serve_and_predict(settings, result)


def test_the_whole_loop_serves_a_prediction_from_the_storms_own_files(tmp_path: Path) -> None:
    settings = new_platform(tmp_path / "platform", source=None, repo=STORMS)  # its sample
    run_stages(settings, "ingest", "validate", "transform", "apply", "materialize")
    end = watermark(settings.offline)
    assert end.year == 2022
    training = TrainingSettings(
        feature_repo=settings.feature_repo, tune_budget=0, bootstrap_samples=50
    )
    result = train(training)
    assert result.metrics["test_roc_auc"] > result.metrics["baseline_test_roc_auc"]
    assert result.metrics["test_roc_auc"] > 0.8
    _serve_and_predict(settings, result)
