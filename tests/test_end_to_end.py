"""The whole loop on real data: the package's flights of January 1-14, 2013 are ingested,
validated, transformed, applied, materialized (with the parity check), trained on through
Feast and MLflow, and served over HTTP by the FastAPI app."""

import io
import zipfile
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from pipelines.tables import TABLES, package_data_dir
from serving.app import create_app
from serving.settings import ServingSettings
from tests.conftest import new_platform, run_stages
from training.settings import TrainingSettings
from training.train import train

pytestmark = pytest.mark.e2e
LAST_DAY = 14


def real_slice(folder: Path) -> Path:
    """The package's own CSVs, flights and weather cut to the first two weeks of January."""
    folder.mkdir()
    source = package_data_dir()
    for table in TABLES.values():
        if not table.monthly:
            (folder / table.file).write_bytes((source / table.file).read_bytes())
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


def test_the_whole_loop_serves_a_prediction_from_real_data(tmp_path: Path) -> None:
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

    flights = pl.read_parquet(settings.offline / "flights.parquet")
    known = (
        flights.filter(pl.col("tailnum").is_not_null())
        .sort("scheduled_departure")
        .row(-1, named=True)
    )
    body = {
        "tailnum": known["tailnum"],
        "carrier": known["carrier"],
        "origin": known["origin"],
        "dest": known["dest"],
        "scheduled_departure": known["scheduled_departure"].isoformat(),
        "distance": known["distance"],
    }
    serving = ServingSettings(feature_repo=settings.feature_repo)
    with TestClient(create_app(serving)) as client:
        assert client.get("/health").status_code == 200
        answer = client.post("/predict", json=body)
        assert answer.status_code == 200, answer.text
        prediction = answer.json()
        assert 0.0 <= prediction["delay_probability"] <= 1.0
        assert prediction["model"] == {"name": "flight_delay", "version": "1"}
        assert prediction["feature_service"] == "flight_delay_v1"
        statuses = {name: f["status"] for name, f in prediction["features"].items()}
        assert set(statuses) == set(result.feature_names)
        assert statuses["carrier_flights_7d"] == "present"

        unknown = client.post("/predict", json={**body, "tailnum": "N0SUCH"}).json()
        assert unknown["features"]["flights_7d"]["status"] == "not_found"
        assert 0.0 <= unknown["delay_probability"] <= 1.0

        bad = client.post("/predict", json={**body, "distance": "far"})
        assert bad.status_code == 422 and "distance" in bad.text
