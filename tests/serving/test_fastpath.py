"""The fast path answers what the FastAPI routes answer, byte for byte, and leaves them every
request it does not plainly handle (which then gets the route's answer, errors included)."""

import json

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.fastpath import FastReads

REFS = ["aircraft_history:flights_7d", "carrier_performance:on_time_rate_7d", "origin_weather:temp"]
ENTITIES = {"tailnum": ["N14228", "N0NE", "N14228"], "carrier": ["UA", "AA", "ZZ"]}
ENTITIES |= {"origin": ["EWR", "JFK", "LGA"]}


@pytest.fixture(scope="module")
def routes_only(serving_settings):
    """The same server with the fast path taken out: every request goes to FastAPI's routes."""
    app = create_app(serving_settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not FastReads]
    with TestClient(app) as client:
        yield client


def reads(as_of) -> list[dict]:
    at = as_of.isoformat()
    service = {
        "scheduled_departure": ["2013-01-07T15:00:00Z"] * 3,
        "distance": [1400, 200, 3],
    }
    return [
        {"entities": ENTITIES, "features": REFS, "as_of": at},
        {"entities": ENTITIES, "features": REFS, "full_feature_names": True, "as_of": at},
        {"entities": ENTITIES, "features": REFS, "include_feature_view_version_metadata": True},
        {"entities": {**ENTITIES, **service}, "feature_service": "flight_delay_v1", "as_of": at},
        {"entities": {"tailnum": []}, "features": REFS[:1]},
    ]


def test_reads_answer_as_the_route_answers(client, routes_only, as_of) -> None:
    for body in reads(as_of):
        fast, route = (c.post("/get-online-features", json=body) for c in (client, routes_only))
        assert fast.status_code == route.status_code == 200, route.text
        assert fast.content == route.content
        assert fast.headers["content-type"] == route.headers["content-type"]


def test_predictions_answer_as_the_route_answers(client, routes_only, known_flight) -> None:
    for flight in (known_flight, {**known_flight, "tailnum": "N0NE"}):
        fast, route = (c.post("/predict", json=flight) for c in (client, routes_only))
        assert fast.status_code == route.status_code == 200
        assert fast.headers["content-type"] == route.headers["content-type"]
        mine, theirs = fast.json(), route.json()
        assert mine.pop("request_id") != theirs.pop("request_id")
        assert mine == theirs


@pytest.mark.parametrize(
    ("path", "content", "content_type"),
    [
        ("/get-online-features", {"entities": ENTITIES}, "application/json"),  # no features
        ("/get-online-features", {"entities": ENTITIES, "features": ["nope:x"]}, None),
        ("/get-online-features", {"entities": {"tailnum": [1]}, "features": REFS[:1]}, None),
        ("/predict", {"tailnum": "N14228"}, "application/json"),
        ("/predict", "{not json", "application/json"),
        ("/predict", {"tailnum": "N14228"}, "text/plain"),
        ("/get-online-features", {"entities": ENTITIES, "features": REFS}, "application/x+json"),
    ],
)
def test_what_the_fast_path_leaves_gets_the_routes_answer(
    client, routes_only, path, content, content_type
) -> None:
    raw = content if isinstance(content, str) else json.dumps(content)
    headers = {"content-type": content_type or "application/json"}
    fast, route = (c.post(path, content=raw, headers=headers) for c in (client, routes_only))
    assert (fast.status_code, fast.content) == (route.status_code, route.content)


@pytest.mark.parametrize("path", ["/get-online-features", "/predict"])
def test_the_fast_path_answers_valid_reads_itself(client, as_of, known_flight, path) -> None:
    body = reads(as_of)[0] if path == "/get-online-features" else known_flight
    sent = []

    async def route(scope, receive, send):
        raise AssertionError(f"{path} was left to the route")

    async def receive():
        return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "app": client.app}
    scope["headers"] = [(b"content-type", b"application/json; charset=utf-8")]
    client.portal.call(FastReads(route), scope, receive, send)
    assert sent[0]["status"] == 200
    answer, again = json.loads(sent[1]["body"]), client.post(path, json=body).json()
    for one in (answer, again):
        one.pop("request_id", None)  # a new one per prediction
    assert answer == again
