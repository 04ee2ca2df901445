"""The HTTP API, through FastAPI's TestClient against a materialized test platform."""

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.materialize import watermark
from serving.app import create_app
from serving.errors import ModelNotFoundError
from serving.settings import ServingSettings
from tests.serving.conftest import SERVICE

AIRCRAFT = ["flights_24h", "mean_arr_delay_24h", "late_share_24h", "flights_7d"]
AIRCRAFT += ["mean_arr_delay_7d", "late_share_7d"]
CARRIER = ["carrier_flights_7d", "on_time_rate_7d", "cancel_rate_7d", "carrier_flights_30d"]
SCHEDULE = ["dep_hour_local", "dep_weekday", "dep_month", "distance_miles"]


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_a_known_aircraft_gets_the_online_stores_values(client, store, known_flight) -> None:
    body = client.post("/predict", json=known_flight).json()

    row = {**known_flight, "scheduled_departure": pd.Timestamp(known_flight["scheduled_departure"])}
    expected = store.get_online_features(
        features=store.get_feature_service(SERVICE), entity_rows=[row]
    ).to_dict()
    assert {name: f["value"] for name, f in body["features"].items()} == {
        name: expected[name][0] for name in body["features"]
    }
    assert {body["features"][name]["status"] for name in AIRCRAFT + CARRIER} == {"present"}
    assert 0 <= body["delay_probability"] <= 1
    assert body["model"] == {"name": "flight_delay", "version": "1"}
    assert body["feature_service"] == SERVICE


def test_feature_timestamps_are_when_the_values_became_known(
    client, platform, known_flight
) -> None:
    body = client.post("/predict", json=known_flight).json()

    history = pd.read_parquet(platform.offline / "aircraft_history.parquet")
    mine = history[history["tailnum"] == known_flight["tailnum"]]
    latest = mine[mine["event_timestamp"] <= watermark(platform.offline)]["event_timestamp"].max()
    stamps = {pd.Timestamp(body["features"][name]["event_timestamp"]) for name in AIRCRAFT}
    assert stamps == {latest}
    # computed from the request, so never stored
    assert {body["features"][name]["event_timestamp"] for name in SCHEDULE} == {None}


def test_an_unknown_aircraft_is_not_found_but_still_predicted(client, known_flight) -> None:
    response = client.post("/predict", json={**known_flight, "tailnum": "N0NE"})

    assert response.status_code == 200
    features = response.json()["features"]
    assert {features[name]["status"] for name in AIRCRAFT} == {"not_found"}
    assert {features[name]["value"] for name in AIRCRAFT} == {None}
    assert {features[name]["status"] for name in CARRIER} == {"present"}
    assert 0 <= response.json()["delay_probability"] <= 1


@pytest.mark.parametrize(
    "departure", ["2013-01-07T15:15:00", "2013-01-07T15:15:00Z", "2013-01-07T10:15:00-05:00"]
)
def test_a_time_without_zone_is_utc(client, known_flight, departure: str) -> None:
    flight = {**known_flight, "scheduled_departure": departure}
    features = client.post("/predict", json=flight).json()["features"]
    assert features["dep_hour_local"]["value"] == 10  # New York is UTC-5 in January


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tailnum": None}, "tailnum"),
        ({"distance": "far"}, "distance"),
        ({"distance": -5}, "distance"),
        ({"distance": 0}, "distance"),
        ({"scheduled_departure": "2013-13-45T25:00"}, "scheduled_departure"),
        ({"scheduled_departure": "tomorrow"}, "scheduled_departure"),
        ({"scheduled_departure": "0001-01-01T00:00:00+00:01"}, "scheduled_departure"),
        ({"carrier": ""}, "carrier"),
    ],
)
def test_malformed_fields_are_422_naming_the_field(client, known_flight, change, field) -> None:
    flight = {k: v for k, v in {**known_flight, **change}.items() if v is not None}
    response = client.post("/predict", json=flight)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


@pytest.mark.parametrize(
    "request_args",
    [
        {},
        {"content": b"", "headers": {"content-type": "application/json"}},
        {"content": b"tailnum=N14228", "headers": {"content-type": "application/json"}},
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        {"json": [1, 2]},
    ],
    ids=["no body", "empty body", "form body", "broken json", "json array"],
)
def test_a_body_that_is_not_a_request_is_422(client, request_args) -> None:
    response = client.post("/predict", **request_args)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_without_a_champion_the_server_does_not_start(platform, tmp_path) -> None:
    missing = tmp_path / "mlflow.db"
    settings = ServingSettings(
        feature_repo=platform.feature_repo, mlflow_tracking_uri=f"sqlite:///{missing}"
    )
    with (
        pytest.raises(ModelNotFoundError, match="flight_delay@champion"),
        TestClient(create_app(settings)),
    ):
        pass
    assert not missing.exists()  # serving reads the registry, never creates one


def test_without_the_alias_the_server_does_not_start(serving_settings) -> None:
    settings = serving_settings.model_copy(update={"model_alias": "staging"})
    with (
        pytest.raises(ModelNotFoundError, match="alias 'staging'"),
        TestClient(create_app(settings)),
    ):
        pass


def test_without_the_model_the_server_does_not_start(serving_settings) -> None:
    settings = serving_settings.model_copy(update={"model_name": "taxi_fare"})
    with (
        pytest.raises(ModelNotFoundError, match="'taxi_fare' has alias 'champion'"),
        TestClient(create_app(settings)),
    ):
        pass
