"""Hostile requests, to every endpoint: each is answered with a 4xx whose body is JSON naming the
problem (`{"detail": ...}`), never a 5xx; a failure nothing expected is still one JSON answer
and one log line; and a kept-alive connection stays usable after any of them.

The hostile bodies are made from one valid body per endpoint, with a number, a string, the
bytes or the headers replaced (`GENERIC`), plus what only one endpoint has (`SPECIFIC`).
"""

import gzip
import http.client
import json
import logging
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.bodies import MAX_DEPTH
from tests.serving.live import live

TOKEN = {"Authorization": "Bearer s3cret"}
JSON = {"content-type": "application/json"}
WEATHER = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure"]
NUM, TEXT = '"@NUM@"', '"@TEXT@"'  # where a template takes a raw JSON number and string


@pytest.fixture(scope="module")
def admin(platform, serving_settings, tmp_path_factory):
    """A server with an admin token over a copy of the platform (pushes write to the copy)."""
    repo = tmp_path_factory.mktemp("hostile") / "feature_repo"
    shutil.copytree(
        platform.feature_repo, repo, ignore=shutil.ignore_patterns("mlflow*", "predictions")
    )
    settings = serving_settings.model_copy(
        update={"feature_repo": repo, "admin_token": "s3cret", "reload_interval_s": 0}
    )
    with TestClient(create_app(settings), headers=TOKEN) as client:
        yield client


def templates(flight: dict, as_of: str) -> dict[str, str]:
    """Per endpoint, a valid body's JSON text with NUM and TEXT to be replaced."""
    predict = {**flight, "tailnum": "@TEXT@", "distance": "@NUM@"}
    service = {
        "tailnum": ["@TEXT@"],
        "carrier": [flight["carrier"]],
        "origin": [flight["origin"]],
        "scheduled_departure": [flight["scheduled_departure"]],
        "distance": ["@NUM@"],
    }
    read = {"entities": service, "feature_service": "flight_delay_v1", "as_of": as_of}
    push = {
        "push_source_name": "origin_weather_push",
        "df": {
            "origin": ["@TEXT@"],
            "event_timestamp": [as_of],
            **{name: ["@NUM@" if name == "temp" else 1.0] for name in WEATHER},
            "visib": [10.0],
        },
    }
    bodies = {"/predict": predict, "/predict/batch": {"rows": [predict]}}
    bodies |= {"/get-online-features": read, "/push": push}
    return {path: json.dumps(body) for path, body in bodies.items()}


def valid(template: str, flight: dict) -> str:
    return template.replace(NUM, str(flight["distance"])).replace(TEXT, '"N0NE"')


@dataclass(frozen=True)
class Hostile:
    """How to make a hostile request of a valid template, and what the answer must say."""

    status: int
    says: str
    num: str | None = None  # the raw JSON in place of the number
    text: str | None = None  # the raw JSON in place of the string
    whole: Callable[[str], str] | None = None  # the valid body's text -> the body's text
    encode: Callable[[str], bytes] = lambda text: text.encode()
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, template: str, flight: dict) -> tuple[bytes, dict[str, str]]:
        text = template
        if self.num is not None:
            text = text.replace(NUM, self.num)
        if self.text is not None:
            text = text.replace(TEXT, self.text)
        text = valid(text, flight)
        if self.whole is not None:
            text = self.whole(text)
        return self.encode(text), {**JSON, **self.headers}


def nested(levels: int) -> Callable[[str], str]:
    return lambda text: "[" * levels + text + "]" * levels


def first_key_twice(text: str) -> str:
    key = next(iter(json.loads(text)))
    return text.replace("{", f'{{"{key}": null, ', 1)


GENERIC = {
    # Numbers JSON does not have, or that no float holds
    "NaN": Hostile(422, "finite", num="NaN"),
    "Infinity": Hostile(422, "finite", num="Infinity"),
    "-Infinity": Hostile(422, "finite", num="-Infinity"),
    "1e400": Hostile(422, "finite", num="1e400"),
    "-1e400": Hostile(422, "finite", num="-1e400"),
    "1e99999": Hostile(422, "finite", num="1e99999"),
    "400 digits": Hostile(422, "finite", num="1" + "0" * 400 + ".5"),
    "5000-digit integer": Hostile(422, "digits", num="9" * 5000),
    "NaN in an extra field": Hostile(422, "finite", whole=lambda t: '{"x": NaN, ' + t[1:]),
    # Strings that are not Unicode
    "lone high surrogate": Hostile(422, "surrogate", text='"\\ud800"'),
    "lone low surrogate": Hostile(422, "surrogate", text='"\\udc00"'),
    "surrogate inside text": Hostile(422, "surrogate", text='"N1\\uDFFFx"'),
    "reversed surrogate pair": Hostile(422, "surrogate", text='"\\ude00\\ud83d"'),
    "surrogate in a key": Hostile(422, "surrogate", whole=lambda t: '{"\\ud800": 1, ' + t[1:]),
    # Structure
    f"nested {MAX_DEPTH + 1} deep": Hostile(400, f"{MAX_DEPTH} levels", whole=nested(MAX_DEPTH)),
    "nested 10,000 deep": Hostile(400, f"{MAX_DEPTH} levels", whole=nested(10_000)),
    "nested 100,000 deep": Hostile(400, f"{MAX_DEPTH} levels", whole=nested(100_000)),
    "nested deep in a field": Hostile(400, "levels", num="[" * 40 + "1" + "]" * 40),
    "a key twice": Hostile(422, "more than once", whole=first_key_twice),
    # Encodings
    "gzip label, plain body": Hostile(
        415, "content-encoding", headers={"content-encoding": "gzip"}
    ),
    "gzip body": Hostile(
        415,
        "content-encoding",
        encode=lambda t: gzip.compress(t.encode()),
        headers={"content-encoding": "gzip"},
    ),
    "br": Hostile(415, "content-encoding 'br'", headers={"content-encoding": "br"}),
    "deflate": Hostile(415, "content-encoding", headers={"content-encoding": "deflate"}),
    "identity, gzip": Hostile(
        415, "content-encoding", headers={"content-encoding": "identity, gzip"}
    ),
    "charset utf-16": Hostile(
        415, "charset 'utf-16'", headers={"content-type": "application/json; charset=utf-16"}
    ),
    "charset latin-1": Hostile(
        415, "charset", headers={"content-type": 'application/json; charset="ISO-8859-1"'}
    ),
    "UTF-16 with BOM": Hostile(400, "utf-16", encode=lambda t: t.encode("utf-16")),
    "UTF-16-LE": Hostile(400, "utf-16", encode=lambda t: t.encode("utf-16-le")),
    "UTF-16-BE": Hostile(400, "utf-16", encode=lambda t: t.encode("utf-16-be")),
    "UTF-32": Hostile(400, "utf-32", encode=lambda t: t.encode("utf-32")),
    "UTF-8 BOM": Hostile(400, "byte order mark", encode=lambda t: t.encode("utf-8-sig")),
    "Latin-1 text": Hostile(400, "not utf-8", text='"N\xe9"', encode=lambda t: t.encode("latin-1")),
    "UTF-8 of a surrogate": Hostile(
        400, "not utf-8", encode=lambda t: t.encode().replace(b"N0NE", b"N\xed\xa0\x80")
    ),
    "overlong UTF-8": Hostile(
        400, "not utf-8", encode=lambda t: t.encode().replace(b"N0NE", b"N\xc0\xaf")
    ),
    # Not JSON
    "truncated": Hostile(422, "json", whole=lambda t: t[:-1]),
    "trailing garbage": Hostile(422, "json", whole=lambda t: t + "}"),
    "single quotes": Hostile(422, "json", whole=lambda t: t.replace('"', "'")),
    "a NUL after": Hostile(400, "nul", whole=lambda t: t + "\x00"),
    "a comment": Hostile(422, "json", whole=lambda t: "// hi\n" + t),
    "whitespace only": Hostile(422, "json", whole=lambda t: "  \n "),
    "empty": Hostile(422, "", whole=lambda t: ""),
    "null": Hostile(422, "", whole=lambda t: "null"),
    "an array": Hostile(422, "", whole=lambda t: "[]"),
    "a lone surrogate alone": Hostile(422, "surrogate", whole=lambda t: '"\\ud800"'),
}
PATHS = ["/predict", "/predict/batch", "/get-online-features", "/push"]


def assert_named(response, status: int, says: str) -> None:
    """The status, and a JSON body whose non-empty `detail` says `says`."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    detail = json.loads(response.content)["detail"]
    assert detail
    assert says.lower() in json.dumps(detail, ensure_ascii=False).lower(), detail


def server(path: str, client, admin):
    return admin if path == "/push" else client


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", list(GENERIC), ids=str)
def test_a_hostile_body_is_a_4xx_naming_it(client, admin, known_flight, as_of, path, case):
    hostile = GENERIC[case]
    body, headers = hostile.request(templates(known_flight, as_of.isoformat())[path], known_flight)
    response = server(path, client, admin).post(path, content=body, headers=headers)
    assert_named(response, hostile.status, hostile.says)


@pytest.mark.parametrize("path", PATHS)
def test_the_templates_are_valid_bodies(client, admin, known_flight, as_of, path) -> None:
    text = valid(templates(known_flight, as_of.isoformat())[path], known_flight)
    response = server(path, client, admin).post(path, content=text, headers=JSON)
    assert response.status_code == 200, response.text


def with_raw(flight: dict, name: str, raw: str) -> str:
    """The flight's JSON, with `raw` as the value of `name`."""
    return json.dumps({**flight, name: "@"}).replace('"@"', raw)


def test_a_non_finite_number_names_its_field(client, known_flight) -> None:
    text = with_raw(known_flight, "distance", "NaN")
    detail = client.post("/predict", content=text, headers=JSON).json()["detail"]
    assert [(e["loc"], e["input"]) for e in detail] == [(["body", "distance"], "NaN")]


def test_a_lone_surrogate_names_its_field(client, known_flight, as_of) -> None:
    text = json.dumps({**known_flight, "tailnum": "\ud800"})  # ensure_ascii: the JSON escape
    detail = client.post("/predict", content=text, headers=JSON).json()["detail"]
    assert [(e["loc"], e["input"]) for e in detail] == [(["body", "tailnum"], "\\ud800")]


def test_a_repeated_key_names_the_object_and_the_key(client, known_flight, as_of) -> None:
    text = json.dumps({"rows": [known_flight]}).replace('{"tailnum"', '{"origin": "x", "tailnum"')
    detail = client.post("/predict/batch", content=text, headers=JSON).json()["detail"]
    assert [(e["loc"], e["input"]) for e in detail] == [(["body", "rows", 0], ["origin"])]


SPECIFIC = [
    # /predict's fields
    ("/predict", {"distance": 2**63}, 422, "less than or equal to 100000"),
    ("/predict", {"distance": -(2**63) - 1}, 422, "greater than or equal to 1"),
    ("/predict", {"distance": 10**30}, 422, "less than or equal"),
    ("/predict", {"distance": 1.5}, 422, "integer"),
    ("/predict", {"distance": True}, 422, "integer"),
    ("/predict", {"distance": "1400"}, 422, "integer"),
    ("/predict", {"scheduled_departure": 1357570800}, 422, "ISO 8601"),
    ("/predict", {"scheduled_departure": 1357570800.5}, 422, "ISO 8601"),
    ("/predict", {"scheduled_departure": True}, 422, "ISO 8601"),
    ("/predict", {"scheduled_departure": "9999-12-31T23:59:59Z"}, 422, "between 1970 and 2200"),
    ("/predict", {"scheduled_departure": "1970-01-01T00:00:00Z"}, 422, "between 1970 and 2200"),
    ("/predict", {"tailnum": "N" * 1001}, 422, "at most 1000"),
    ("/predict", {"tailnum": ["N1"]}, 422, "string"),
    ("/predict", {"tailnum": {"$ne": ""}}, 422, "string"),
    ("/predict/batch", {"rows": []}, 422, "at least 1"),
    ("/predict/batch", {"rows": {"0": {}}}, 422, "list"),
    ("/predict/batch", {"rows": [None]}, 422, "rows"),
    ("/predict/batch", {"rows": "@flight@" * 101}, 413, "LARDER_MAX_BATCH"),
    # /get-online-features
    (
        "/get-online-features",
        {"features": ["aircraft_history:flights_7d"] * 500},
        422,
        "more than once",
    ),
    (
        "/get-online-features",
        {"features": [f"nope:f{i}" for i in range(500)]},
        422,
        "no feature view",
    ),
    ("/get-online-features", {"as_of": 1357570800}, 422, "ISO 8601"),
    ("/get-online-features", {"as_of": "tomorrow"}, 422, "as_of"),
    ("/get-online-features", {"entities": {"tailnum": ["N1"] * 1001}}, 413, "LARDER_MAX_ENTITIES"),
    ("/get-online-features", {"entities": {"tailnum": [2**63]}}, 422, "tailnum"),
    ("/get-online-features", {"entities": {"tailnum": [None]}}, 422, "tailnum"),
    ("/get-online-features", {"entities": {"tailnum": [[1]]}}, 422, "tailnum"),
    ("/get-online-features", {"entities": {}}, 422, "at least 1"),
    ("/get-online-features", {"feature_service": "\u0000"}, 422, "no feature service"),
    ("/get-online-features", {"features": ["a" * 100_000]}, 422, "'view:feature'"),
    # /push
    ("/push", {"df": {"event_timestamp": [1357570800]}}, 422, "ISO-8601 times as strings"),
    ("/push", {"df": {"event_timestamp": ["2013-13-45"]}}, 422, "ISO-8601"),
    ("/push", {"df": {"event_timestamp": ["9999-12-31T00:00:00Z"]}}, 422, "ISO-8601"),
    ("/push", {"df": {"temp": ["warm"]}}, 422, "df.temp[0] is 'warm'"),
    ("/push", {"df": {"temp": [True]}}, 422, "df.temp[0] is True"),
    ("/push", {"df": {"origin": [None]}}, 422, "origin"),
    ("/push", {"df": {"origin": ["EWR", "JFK"]}}, 422, "one length"),
    ("/push", {"push_source_name": ""}, 422, "at least 1"),
    ("/push", {"push_source_name": "nope"}, 422, "no feature view reads push source"),
    ("/push", {"to": "offline"}, 422, "online"),
]


def specific_body(path: str, change: dict, flight: dict, as_of: str) -> dict:
    body = json.loads(valid(templates(flight, as_of)[path], flight))
    if change.get("rows") == "@flight@" * 101:
        return {"rows": [flight] * 101}
    for key, value in change.items():
        if key in ("entities", "df") and value:
            body[key] = {**body[key], **value}
            if key == "entities":
                body.pop("feature_service")
                body["features"] = ["aircraft_history:flights_7d"]
        else:
            body[key] = value
    if "features" in change:
        body.pop("feature_service", None)
    return body


@pytest.mark.parametrize(("path", "change", "status", "says"), SPECIFIC, ids=lambda v: str(v)[:40])
def test_a_hostile_field_is_a_4xx_naming_it(
    client, admin, known_flight, as_of, path, change, status, says
) -> None:
    body = specific_body(path, change, known_flight, as_of.isoformat())
    response = server(path, client, admin).post(path, json=body)
    assert_named(response, status, says)


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "says"),
    [
        ("POST", "/admin/reload", {"Authorization": ""}, 401, "LARDER_ADMIN_TOKEN"),
        ("POST", "/admin/reload", {"Authorization": b"Bearer \xff"}, 401, "LARDER_ADMIN_TOKEN"),
        ("POST", "/admin/reload", {"Authorization": "Basic czNjcmV0"}, 401, "Bearer"),
        ("GET", "/admin/reload", {}, 405, "not allowed"),
        ("POST", "/push", {"Authorization": "Bearer wrong"}, 401, "LARDER_ADMIN_TOKEN"),
        ("POST", "/health", {}, 405, "not allowed"),
        ("POST", "/ready", {}, 405, "not allowed"),
        ("DELETE", "/metrics", {}, 405, "not allowed"),
        ("GET", "/predict", {}, 405, "not allowed"),
        ("PUT", "/get-online-features", {}, 405, "not allowed"),
        ("GET", "/nowhere/%ff%fe", {}, 404, "not found"),
    ],
)
def test_a_hostile_call_of_any_endpoint_is_a_4xx(admin, method, path, headers, status, says):
    response = admin.request(method, path, headers=headers, content=b"")
    assert_named(response, status, says)


def test_the_probes_take_junk_and_answer(client) -> None:
    for path in ("/health", "/ready", "/metrics"):
        response = client.get(path + "?x=%00%ff&x=" + "y" * 5000, headers={"x-junk": b"\xff"})
        assert response.status_code == 200


class FailingReads:
    """The app's reader, failing as a broken store would for the tail numbers named here."""

    def __init__(self, reader) -> None:
        self.reader = reader

    def read(self, plan, entities, as_of):
        tail = (entities.get("tailnum") or [None])[0]
        if tail == "BUG":
            raise RuntimeError("an unexpected failure\nover two lines")
        if tail == "LOCKED":
            raise sqlite3.OperationalError("database is locked")
        return self.reader.read(plan, entities, as_of)


@pytest.fixture(scope="module")
def connection(serving_settings):
    """A real server, and one kept-alive HTTP connection to it."""
    app = create_app(serving_settings.model_copy(update={"reload_interval_s": 0}))
    with live(app) as url:
        app.state.reader = FailingReads(app.state.reader)
        where = urlsplit(url)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        yield conn
        conn.close()


def exchange(conn, path: str, body: bytes, headers: dict[str, str]):
    conn.request("POST", path, body=body, headers={**JSON, **headers})
    response = conn.getresponse()
    return response.status, response.read(), response.getheader("connection")


def test_the_connection_stays_usable_after_each_error(connection, known_flight) -> None:
    """The five requests that were 500s, and more, one after another on one connection."""
    flight = json.dumps(known_flight)
    sent = [
        (with_raw(known_flight, "distance", "NaN"), {}, 422),
        (with_raw(known_flight, "distance", "Infinity"), {}, 422),
        (with_raw(known_flight, "tailnum", '"\\ud800"'), {}, 422),
        ("[" * 10_000 + "]" * 10_000, {}, 400),
        ("[" * 100_000 + "]" * 100_000, {}, 400),
        (flight, {"content-encoding": "gzip"}, 415),
        (json.dumps({**known_flight, "tailnum": "BUG"}), {}, 500),
        (json.dumps({**known_flight, "tailnum": "LOCKED"}), {}, 503),
    ]
    exchange(connection, "/predict", flight.encode(), {})
    socket = connection.sock
    for body, headers, status in sent:
        got, content, closing = exchange(connection, "/predict", body.encode(), headers)
        assert (got, closing) == (status, None), content
        assert json.loads(content)["detail"]
        assert exchange(connection, "/predict", flight.encode(), {})[0] == 200
        assert connection.sock is socket  # the same connection, never closed and reopened


def test_an_unexpected_failure_is_one_json_answer_and_one_log_line(
    connection, known_flight, caplog
) -> None:
    with caplog.at_level(logging.ERROR, logger="serving"):
        status, content, _ = exchange(
            connection, "/predict", json.dumps({**known_flight, "tailnum": "BUG"}).encode(), {}
        )
    assert status == 500
    assert "RuntimeError" in json.loads(content)["detail"]
    lines = [r.getMessage() for r in caplog.records if r.name == "serving"]
    assert len(lines) == 1 and "\n" not in lines[0] and "/predict" in lines[0], lines


def test_an_online_store_that_cannot_be_read_is_a_503_saying_how_to_recover(
    connection, known_flight
) -> None:
    body = json.dumps({**known_flight, "tailnum": "LOCKED"}).encode()
    status, content, _ = exchange(connection, "/predict", body, {})
    detail = json.loads(content)["detail"]
    assert status == 503 and "online store" in detail and "database is locked" in detail
    assert "materialize" in detail
    read = {"entities": {"tailnum": ["LOCKED"]}, "features": ["aircraft_history:flights_7d"]}
    status, content, _ = exchange(connection, "/get-online-features", json.dumps(read).encode(), {})
    assert status == 503 and "online store" in json.loads(content)["detail"]
