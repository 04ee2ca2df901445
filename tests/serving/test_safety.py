"""Limits, tokens, metrics and the prediction log, on a server with small limits."""

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.prediction_log import PredictionLog

READ = {"Authorization": "Bearer reader"}
REFS = ["carrier_performance:on_time_rate_7d"]


@pytest.fixture(scope="module")
def strict(serving_settings, tmp_path_factory):
    settings = serving_settings.model_copy(
        update={
            "max_body_bytes": 4000,
            "max_entities": 3,
            "max_batch": 2,
            "read_token": "reader",
            "reload_interval_s": 0,
            "log_dir": tmp_path_factory.mktemp("predictions"),
            "log_flush_s": 3600,
        }
    )
    with TestClient(create_app(settings), headers=READ) as client:
        yield client


def test_read_endpoints_need_the_read_token_when_one_is_set(strict, known_flight) -> None:
    bare = {"Authorization": ""}
    assert strict.post("/predict", json=known_flight, headers=bare).status_code == 401
    assert strict.post("/predict", json=known_flight).status_code == 200
    assert strict.get("/health", headers=bare).status_code == 200  # probes stay open


@pytest.mark.parametrize(
    ("body", "status", "complaint"),
    [
        (
            {"entities": {"carrier": ["UA"] * 4}, "features": REFS},
            413,
            "limit of 3 (LARDER_MAX_ENTITIES)",
        ),
        (
            {"entities": {"carrier": ["UA"] * 900}, "features": REFS},
            413,
            "larger than the limit of 4000 bytes",
        ),
        (
            {"entities": {"carrier": ["UA"]}, "features": ["carrier_performance:nope"]},
            422,
            "no feature(s) ['nope']",
        ),
        ({"entities": {"carrier": ["UA"]}, "features": ["nope:x"]}, 422, "no feature view 'nope'"),
        ({"entities": {"carrier": ["UA"]}, "features": ["flat"]}, 422, "'view:feature'"),
        (
            {"entities": {"carrier": ["UA"]}, "feature_service": "v9"},
            422,
            "no feature service 'v9'",
        ),
        ({"entities": {"origin": ["EWR"]}, "features": REFS}, 422, "lacks ['carrier']"),
        ({"entities": {"carrier": [7]}, "features": REFS}, 422, "its join key is STRING"),
        (
            {
                "entities": {"carrier": ["UA"], "tailnum": ["N1", "N2"]},
                "features": [*REFS, "aircraft_history:flights_7d"],
            },
            422,
            "different lengths",
        ),
    ],
)
def test_every_bad_read_is_4xx_naming_the_problem(strict, body, status, complaint) -> None:
    response = strict.post("/get-online-features", json=body)
    assert response.status_code == status
    assert complaint.lower() in str(response.json()["detail"]).lower()


def test_a_batch_over_the_limit_is_413(strict, known_flight) -> None:
    response = strict.post("/predict/batch", json={"rows": [known_flight] * 3})
    assert response.status_code == 413 and "LARDER_MAX_BATCH" in response.json()["detail"]


def test_a_batch_answers_each_flight_as_predict_does(strict, known_flight) -> None:
    one = strict.post("/predict", json=known_flight).json()
    both = strict.post("/predict/batch", json={"rows": [known_flight, known_flight]}).json()
    assert [p["delay_probability"] for p in both["predictions"]] == [one["delay_probability"]] * 2
    assert both["predictions"][0]["features"] == one["features"]


def test_metrics_count_latency_predictions_statuses_and_freshness(strict, known_flight) -> None:
    strict.post("/predict", json=known_flight)
    strict.post("/get-online-features", json={"entities": {"carrier": ["UA"]}, "features": ["x"]})
    text = strict.get("/metrics").text
    assert 'larder_request_seconds_bucket{endpoint="/predict"' in text
    assert 'larder_predictions_total{model_version="1"}' in text
    assert 'larder_feature_status_total{status="PRESENT",view="carrier_performance"}' in text
    assert 'larder_feature_age_seconds{view="aircraft_history"}' in text
    assert 'larder_requests_failed_total{endpoint="/get-online-features",status="422"}' in text


def _metric(text: str, line: str) -> float:
    return sum(float(m.split()[-1]) for m in text.splitlines() if m.startswith(line))


def test_metrics_count_each_value_served_by_view_and_status(strict, known_flight) -> None:
    """Reads add to plain tallies that reach Prometheus in one step: the counts after a
    prediction grow by exactly what it served, and the age is the read's oldest."""
    plan = strict.app.state.served.plan
    view = next(r for r in plan.views if not r.hidden and r.ttl_s)
    line = f'larder_feature_status_total{{status="PRESENT",view="{view.view.name}"}}'
    before = _metric(strict.get("/metrics").text, line)
    answer = strict.post("/predict", json=known_flight).json()
    text = strict.get("/metrics").text
    present = [n for n in view.names if answer["features"][n]["status"] == "present"]
    assert present and _metric(text, line) - before == len(present)
    age = _metric(text, f'larder_feature_age_seconds{{view="{view.view.name}"}}')
    stamp = answer["features"][present[0]]["event_timestamp"]
    oldest = pd.Timestamp(answer["prediction_time"]) - pd.Timestamp(stamp)
    assert age == max(oldest.total_seconds(), 0.0)


def test_every_prediction_is_logged_with_its_features(strict, known_flight) -> None:
    answer = strict.post("/predict", json=known_flight).json()
    log = strict.app.state.log
    path = log.flush()
    frame = pd.read_parquet(path)
    row = frame[frame["request_id"] == answer["request_id"]].iloc[0]
    assert row["model_version"] == "1" and row["probability"] == answer["delay_probability"]
    assert row["status.flights_7d"] == answer["features"]["flights_7d"]["status"]
    assert row["value.distance_miles"] == answer["features"]["distance_miles"]["value"]
    assert known_flight["tailnum"] in row["entities"] and row["latency_ms"] > 0


def test_the_log_writes_whole_files_in_batches_and_never_a_partial_one(tmp_path) -> None:
    log = PredictionLog(tmp_path, batch_rows=10, flush_s=3600)
    log.start()
    record = {
        "request_id": "r",
        "probability": 0.5,
        "entities": {"tailnum": "N1"},
        "features": (("f",), (1,), ("present",)),  # names, values, statuses
    }
    for i in range(25):
        log.append({**record, "request_id": f"r{i}"})
    log.close()
    files = sorted(tmp_path.rglob("*.parquet"))
    assert sum(len(pd.read_parquet(f)) for f in files) == 25 and files
    assert not list(tmp_path.rglob("*.tmp"))  # written under a temporary name, then renamed
