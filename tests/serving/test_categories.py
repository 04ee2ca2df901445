"""Categorical inputs from training to serving: the champion's categories are recorded in its
contract, its encoding travels inside the logged model, the server's answer equals the logged
model's on the same inputs, and a category the model never saw is answered and counted."""

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.model import load_champion
from tests.serving.conftest import MODEL


@pytest.fixture(scope="module")
def champion(tracking_uri: str):
    return load_champion(tracking_uri, MODEL, "champion")


def test_the_contract_records_the_categories_the_model_knows(champion, tracking_uri) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    tags = client.get_model_version(MODEL, champion.version).tags
    categories = json.loads(tags["categories"])
    assert champion.contract.keys == ("carrier", "origin", "dest")
    assert set(categories) == {"plane_engine_type", "carrier", "origin", "dest"}
    assert categories == champion.booster.categories  # the logged model's own encoding
    assert json.loads(tags["model_inputs"]) == champion.inputs == champion.booster.inputs


def test_the_servers_probability_is_the_logged_models(client: TestClient, known_flight) -> None:
    body = client.post("/predict", json=known_flight).json()
    app = client.app.state.reloader.holder.served.champion  # type: ignore[attr-defined]
    values = {name: f["value"] for name, f in body["features"].items()}
    values |= {key: known_flight[key] for key in app.contract.keys}
    # the logged model, called through a DataFrame as training and promotion call it; two
    # rows, so LightGBM's batch predict answers, not the one-row path the server takes
    frame = app.frame(values)
    expected = app.estimator.predict_proba(pd.concat([frame, frame]))[0, 1]
    assert body["delay_probability"] == pytest.approx(expected, abs=1e-12)


def _unseen(client: TestClient) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("larder_unseen_categories_total{") and 'input="dest"' in line:
            total += float(line.split()[-1])
    return total


def test_an_unseen_category_is_answered_and_counted(client: TestClient, known_flight) -> None:
    before = _unseen(client)
    known = client.post("/predict", json=known_flight).json()
    novel = client.post("/predict", json={**known_flight, "dest": "ZZZ"})
    assert novel.status_code == 200, novel.text
    assert 0 <= novel.json()["delay_probability"] <= 1
    assert _unseen(client) == before + 1
    assert known["model"] == novel.json()["model"]


def test_an_unseen_category_is_read_as_missing(champion) -> None:
    row = {name: None for name in champion.inputs}
    assert champion.predict({**row, "dest": "ZZZ"}) == champion.predict(row)
    known = champion.booster.categories["dest"][0]
    assert champion.booster.encoding.encode_rows([{**row, "dest": known}])[1] == []
