"""The server of any domain: `/predict` takes what the served FeatureService needs (its join
keys and request fields, as typed in the registry) and answers the task's probability under
the task's name, with every feature the model used as the online store holds it; the schema is
in the OpenAPI document with examples; every prediction is logged."""

from datetime import timedelta

import pandas as pd
import pytest

from training.contract import service_inputs


def _task(domain_server):
    return domain_server.platform.domain.task


def _keys(domain_server) -> list[str]:
    store = domain_server.store
    service = store.get_feature_service(_task(domain_server).feature_service)
    return service_inputs(store, service)[0]


def test_a_prediction_holds_the_tasks_answer_and_the_online_values(domain_server) -> None:
    task, store = _task(domain_server), domain_server.store
    body = domain_server.client.post("/predict", json=domain_server.request)
    assert body.status_code == 200, body.text
    answer = body.json()
    assert 0 <= answer[task.answer] <= 1
    assert answer["model"] == {"name": task.name, "version": "1"}
    assert answer["feature_service"] == task.feature_service
    at = pd.Timestamp(domain_server.request[task.time]) - task.lead
    assert pd.Timestamp(answer["prediction_time"]) == at
    service = store.get_feature_service(task.feature_service)
    names = [f.name for p in service.feature_view_projections for f in p.features]
    assert list(answer["features"]) == names
    row = {**domain_server.request, task.time: pd.Timestamp(domain_server.request[task.time])}
    online = store.get_online_features(features=service, entity_rows=[row]).to_dict()
    for name, feature in answer["features"].items():
        if feature["status"] != "outside_max_age":
            assert feature["value"] == online[name][0], name


def test_a_prediction_is_the_documented_models_json_byte_for_byte(domain_server) -> None:
    """Predictions are built as dicts and written without the model; the model, fed the
    answer, validates it and writes the same bytes (batch included)."""
    client, task = domain_server.client, _task(domain_server)
    schemas = client.app.state.served.schemas
    text_key = next(k for k in _keys(domain_server) if isinstance(domain_server.request[k], str))
    unknown = {**domain_server.request, text_key: "NO SUCH ENTITY"}
    for request in (domain_server.request, unknown):
        body = client.post("/predict", json=request).content
        assert schemas.prediction.model_validate_json(body).model_dump_json().encode() == body
        batch = client.post("/predict/batch", json={"rows": [request]}).content
        assert schemas.predictions.model_validate_json(batch).model_dump_json().encode() == batch
        assert task.answer in body.decode()


def test_the_request_schema_is_the_services_inputs_with_examples(domain_server) -> None:
    task, store = _task(domain_server), domain_server.store
    keys, requested = service_inputs(store, store.get_feature_service(task.feature_service))
    document = domain_server.client.get("/openapi.json").json()
    request = document["components"]["schemas"]["PredictRequest"]
    assert set(request["required"]) == {*keys, *requested, task.time}
    assert all(field.get("examples") for field in request["properties"].values())
    answer = document["components"]["schemas"]["Prediction"]
    assert task.answer in answer["required"]
    body = document["paths"]["/predict"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/PredictRequest")


def test_a_request_missing_a_key_is_422_naming_it(domain_server) -> None:
    key = _keys(domain_server)[0]
    request = {k: v for k, v in domain_server.request.items() if k != key}
    answer = domain_server.client.post("/predict", json=request)
    assert answer.status_code == 422
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", key]]


def test_an_unknown_entity_is_still_predicted(domain_server) -> None:
    task = _task(domain_server)
    text_key = next(k for k in _keys(domain_server) if isinstance(domain_server.request[k], str))
    request = {**domain_server.request, text_key: "NO SUCH ENTITY"}
    answer = domain_server.client.post("/predict", json=request).json()
    assert 0 <= answer[task.answer] <= 1
    assert "not_found" in {f["status"] for f in answer["features"].values()}


def test_a_batch_answers_each_request_as_predict_does(domain_server) -> None:
    task, client = _task(domain_server), domain_server.client
    later = {
        **domain_server.request,
        task.time: (
            pd.Timestamp(domain_server.request[task.time]) + timedelta(hours=1)
        ).isoformat(),
    }
    both = client.post("/predict/batch", json={"rows": [domain_server.request, later]}).json()
    ones = [client.post("/predict", json=r).json() for r in (domain_server.request, later)]
    assert [p[task.answer] for p in both["predictions"]] == [p[task.answer] for p in ones]


def test_every_prediction_is_logged_with_its_request(domain_server) -> None:
    task, client = _task(domain_server), domain_server.client
    answer = client.post("/predict", json=domain_server.request).json()
    path = client.app.state.log.flush()
    logged = pd.read_parquet(path)
    row = logged[logged["request_id"] == answer["request_id"]].iloc[0]
    assert row["probability"] == answer[task.answer]
    assert str(domain_server.request[_keys(domain_server)[0]]) in row["entities"]


@pytest.mark.parametrize("endpoint", ["/health", "/ready", "/metrics"])
def test_probes_answer(domain_server, endpoint) -> None:
    assert domain_server.client.get(endpoint).status_code == 200
