"""A champion model registered beside the test platform, and a client of the server serving it.

The training package is written in parallel, so the model is fitted here: a small real
sklearn pipeline on point-in-time features of the fixture's flights, registered with the
contract serving relies on (alias `champion`, tags `feature_service` and `feature_names`).
"""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.materialize import watermark
from pipelines.settings import PipelineSettings
from serving.app import create_app
from serving.settings import ServingSettings

SERVICE = "flight_delay_v1"
MODEL = "flight_delay"


@pytest.fixture(scope="session")
def store(platform: PipelineSettings):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(platform.feature_repo))


@pytest.fixture(scope="session")
def labelled_rows(platform: PipelineSettings, store) -> tuple[pd.DataFrame, pd.Series]:
    """Point-in-time features (in the service's order, NaN where Feast had none) and labels
    of 300 real flights of the fixture."""
    service = store.get_feature_service(SERVICE)
    names = [field.name for view in service.feature_view_projections for field in view.features]
    return training_frame(store, service, platform.offline, names)


@pytest.fixture(scope="session")
def tracking_uri(platform: PipelineSettings, store, labelled_rows) -> str:
    """An MLflow store in the platform's data dir holding `flight_delay@champion`."""
    folder = platform.data_dir / "mlflow_serving_tests"
    folder.mkdir()
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    service = store.get_feature_service(SERVICE)
    fields = [field for view in service.feature_view_projections for field in view.features]
    names = [field.name for field in fields]
    types = {field.name: str(field.dtype) for field in fields}
    features, labels = labelled_rows
    register(uri, folder / "artifacts", fit(features, labels), names, types)
    return uri


def training_frame(store, service, offline: Path, names: list[str]):
    flights = pd.read_parquet(offline / "flights.parquet").dropna(subset=["tailnum"]).head(300)
    entities = flights[["tailnum", "carrier", "origin", "scheduled_departure", "distance"]].assign(
        event_timestamp=flights["prediction_time"], late=flights["late"]
    )
    frame = store.get_historical_features(entity_df=entities, features=service).to_df()
    return frame[names].astype("float64"), frame["late"].astype(int)


def fit(features: pd.DataFrame, labels: pd.Series):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # keep_empty_features: a feature missing in every training row still has a column.
    model = make_pipeline(
        SimpleImputer(keep_empty_features=True), StandardScaler(), LogisticRegression()
    )
    return model.fit(features, labels)


def register(uri: str, artifacts: Path, model, names: list[str], types: dict[str, str]) -> None:
    import mlflow

    # The fluent API uses the process-wide URIs (another test may have set them): point them
    # here only while logging, then put back what was there.
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        experiment = mlflow.create_experiment("serving-tests", artifact_location=artifacts.as_uri())
        with mlflow.start_run(experiment_id=experiment):
            logged = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=MODEL,
                skops_trusted_types=["numpy.dtype"],  # SimpleImputer keeps its input dtype
            )
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = str(logged.registered_model_version)
    client.set_model_version_tag(MODEL, version, "feature_service", SERVICE)
    client.set_model_version_tag(MODEL, version, "feature_names", json.dumps(names))
    client.set_model_version_tag(MODEL, version, "feature_types", json.dumps(types))
    client.set_registered_model_alias(MODEL, "champion", version)  # last: a whole contract


@pytest.fixture(scope="session")
def serving_settings(platform: PipelineSettings, tracking_uri: str) -> ServingSettings:
    return ServingSettings(feature_repo=platform.feature_repo, mlflow_tracking_uri=tracking_uri)


@pytest.fixture(scope="session")
def client(serving_settings: ServingSettings) -> Iterator[TestClient]:
    """One server for the session: loading the store and model takes seconds."""
    with TestClient(create_app(serving_settings)) as client:
        yield client


@pytest.fixture(scope="session")
def as_of(platform: PipelineSettings):
    """The data's watermark: the moment the test platform's online store is current at."""
    from pipelines.materialize import watermark

    return watermark(platform.offline)


@pytest.fixture(scope="session")
def known_flight(platform: PipelineSettings) -> dict:
    """The aircraft that landed last before the data ends, flying again an hour after."""
    end = watermark(platform.offline)
    flights = pd.read_parquet(platform.offline / "flights.parquet").dropna(subset=["tailnum"])
    last = flights[flights["known_at"] <= end].sort_values("known_at").iloc[-1]
    return {
        "tailnum": last["tailnum"],
        "carrier": last["carrier"],
        "origin": last["origin"],
        "dest": last["dest"],
        "scheduled_departure": (end + timedelta(hours=1)).isoformat(),
        "distance": int(last["distance"]),
    }
