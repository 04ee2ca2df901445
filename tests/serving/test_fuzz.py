"""Generated requests to every endpoint, hostile ones among them: no answer is ever a 5xx, and
every 4xx is JSON with a non-empty `detail`.

- schemathesis, from the OpenAPI document: bodies valid and invalid (its positive and negative
  modes, NUL characters allowed), and half of them with one value (or a new key's value)
  replaced by NaN, an infinity, a lone surrogate, a number no float holds, an integer beyond
  int64 or an epoch time, written as Python's json writes them (`NaN`, `"\\ud800"`): JSON
  libraries refuse to write those, so schemathesis never sends them itself;
- hypothesis over the served request model's fields (/predict, /predict/batch), each field
  valid or hostile.

Driven through hypothesis directly (schemathesis' pytest plugin does not load under pytest 9).
The schemathesis app is a server over a copy of the platform with an admin token, so /push and
/admin/reload are reached too; schemathesis runs its lifespan.
"""

import json
import math
import shutil
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from serving.app import create_app

TOKEN = {"Authorization": "Bearer s3cret"}
# Derandomized: the same examples every run, so a failure here is one anybody can reproduce.
FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
POISON = st.sampled_from(
    [
        math.nan,
        math.inf,
        -math.inf,
        "\ud800",
        "N1\udfff",
        "\udc00\ud800",
        "\x00",
        10**400,
        2**63,
        -(2**63) - 1,
        1357570800,
        1e308,
        -0.0,
        [[[[[[[[]]]]]]]],
        {"": None},
    ]
)


def answered_well(status: int, content: bytes, what: Any) -> None:
    assert status < 500, (status, content[:300], what)
    if status >= 400:
        assert json.loads(content)["detail"], (status, content[:300], what)


def places(value: Any, at: tuple = ()) -> list[tuple]:
    """Every place in a JSON value a poison can go: each value, and a new key of each object."""
    found = [at]
    if isinstance(value, dict):
        found.append((*at, "\ud800extra"))
        for key, item in value.items():
            found += places(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += places(item, (*at, i))
    return found


def poisoned(value: Any, at: tuple, poison: Any) -> Any:
    if not at:
        return poison
    head, rest = at[0], at[1:]
    if isinstance(value, dict):
        return {**value, head: poisoned(value.get(head), rest, poison)}
    return [poisoned(item, rest, poison) if i == head else item for i, item in enumerate(value)]


@st.composite
def hostile(draw, cases: st.SearchStrategy) -> Any:
    case = draw(cases)
    body = case.body
    if isinstance(body, dict | list) and draw(st.booleans()):
        at = draw(st.sampled_from(places(body)))
        case.body = json.dumps(poisoned(body, at, draw(POISON))).encode()  # NaN, \ud800: as is
    return case


@pytest.fixture(scope="module")
def fuzzed(platform, serving_settings, tmp_path_factory):
    """A server over a copy of the platform, with an admin token (pushes write to the copy)."""
    repo = tmp_path_factory.mktemp("fuzzed") / "feature_repo"
    shutil.copytree(
        platform.feature_repo, repo, ignore=shutil.ignore_patterns("mlflow*", "predictions")
    )
    update = {"feature_repo": repo, "admin_token": "s3cret", "reload_interval_s": 0}
    return create_app(serving_settings.model_copy(update=update))


def test_no_generated_request_gets_a_server_error(fuzzed) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed)
    schema.config.generation.update(allow_x00=True, codec="utf-8")
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert paths >= {"/get-online-features", "/predict", "/predict/batch", "/push"}
    assert paths >= {"/admin/reload", "/health", "/ready"}
    for operation in operations:
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        cases = st.one_of(*(operation.as_strategy(mode, headers=TOKEN) for mode in modes))

        @given(case=hostile(cases))
        @FUZZ
        def no_server_error(case) -> None:
            response = case.call()
            answered_well(response.status_code, response.content, (case.path, case.body))

        no_server_error()


def field_values(name: str, example: Any, time: str) -> st.SearchStrategy:
    """A value for one field of the served request model: a valid one, or hostile ones."""
    hostile_values = NON_FINITE | POISON | st.none() | st.text() | st.integers() | st.floats()
    if name == time:  # times as text, many out of the plausible range
        hostile_values |= st.datetimes().map(lambda t: t.isoformat())
    return st.just(example) | hostile_values


def test_no_request_of_the_served_model_gets_a_server_error(client, known_flight) -> None:
    fields = [f.name for f in client.app.state.served.schemas.fields]
    time = client.app.state.settings.task.time
    values = {name: field_values(name, known_flight[name], time) for name in fields}

    @given(
        body=st.fixed_dictionaries(values),
        batch=st.booleans(),
        gone=st.sets(st.sampled_from(fields)),
    )
    @FUZZ
    def no_server_error(body, batch, gone) -> None:
        body = {k: v for k, v in body.items() if k not in gone}
        path, sent = ("/predict/batch", {"rows": [body]}) if batch else ("/predict", body)
        content = json.dumps(sent).encode()  # NaN and lone surrogates as json writes them
        response = client.post(path, content=content, headers={"content-type": "application/json"})
        answered_well(response.status_code, response.content, sent)

    no_server_error()
