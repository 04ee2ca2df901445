"""/push writes through a Feast PushSource, newest row winning; and serving keeps answering
while a materialization runs (stock Feast refuses a view in state MATERIALIZING)."""

import shutil
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from pipelines.materialize import apply
from serving.app import create_app

TOKEN = {"Authorization": "Bearer s3cret"}
PUSH_VIEW = """
from datetime import timedelta

from feast import FeatureView, Field, PushSource
from feast.types import Float64

from flights import origin, origin_weather

live_weather_push = PushSource(name="live_weather_push", batch_source=origin_weather.batch_source)
live_weather = FeatureView(
    name="live_weather",
    entities=[origin],
    ttl=timedelta(hours=3),
    schema=[Field(name="temp", dtype=Float64), Field(name="visib", dtype=Float64)],
    source=live_weather_push,
)
"""


@pytest.fixture(scope="module")
def pushing(platform, serving_settings, tmp_path_factory):
    """A copy of the platform with a pushable view, served with an admin token."""
    base = tmp_path_factory.mktemp("push_platform")
    shutil.copytree(
        platform.feature_repo, base / "feature_repo", ignore=shutil.ignore_patterns("predictions")
    )
    (base / "feature_repo" / "live.py").write_text(PUSH_VIEW)
    apply(base / "feature_repo")
    settings = serving_settings.model_copy(
        update={
            "feature_repo": base / "feature_repo",
            "admin_token": "s3cret",
            "reload_interval_s": 0,
        }
    )
    with TestClient(create_app(settings)) as client:
        yield client


def weather(client, as_of) -> dict:
    body = {"entities": {"origin": ["EWR"]}, "features": ["live_weather:temp"], "as_of": as_of}
    return client.post("/get-online-features", json=body).json()["results"][1]


def row(temp: float, at: str) -> dict:
    return {
        "push_source_name": "live_weather_push",
        "df": {"origin": ["EWR"], "event_timestamp": [at], "temp": [temp], "visib": [10.0]},
    }


def test_a_newer_row_is_written_and_an_older_one_never_overwrites_it(pushing) -> None:
    first = pushing.post("/push", json=row(50.5, "2013-01-08T12:00:00Z"), headers=TOKEN)
    assert first.json() == {"views": [{"view": "live_weather", "written": 1, "skipped_older": 0}]}
    late = pushing.post("/push", json=row(-3.0, "2013-01-08T11:00:00Z"), headers=TOKEN)
    assert late.json()["views"][0] == {"view": "live_weather", "written": 0, "skipped_older": 1}
    read = weather(pushing, "2013-01-08T13:00:00Z")
    assert (read["values"], read["statuses"]) == ([50.5], ["PRESENT"])
    assert read["event_timestamps"] == ["2013-01-08T12:00:00Z"]
    # and ttl still applies to pushed rows
    assert weather(pushing, "2013-01-08T16:00:01Z")["statuses"] == ["OUTSIDE_MAX_AGE"]


def test_within_one_push_the_latest_row_per_entity_wins(pushing) -> None:
    body = row(0, "x")
    body["df"] = {
        "origin": ["EWR", "EWR"],
        "event_timestamp": ["2013-01-09T02:00:00Z", "2013-01-09T01:00:00Z"],
        "temp": [61.0, 1.0],
        "visib": [1.0, 1.0],
    }
    assert pushing.post("/push", json=body, headers=TOKEN).json()["views"][0]["written"] == 1
    assert weather(pushing, "2013-01-09T03:00:00Z")["values"] == [61.0]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"push_source_name": "nope"}, "no feature view reads push source 'nope'"),
        (
            {"df": {"origin": ["EWR"], "temp": [1.0]}},
            "lacks column(s) ['event_timestamp', 'visib']",
        ),
        (
            {"df": {"origin": ["EWR"], "event_timestamp": ["soon"], "temp": [1.0], "visib": [1.0]}},
            "ISO-8601",
        ),
        (
            {"df": {"origin": ["EWR", "JFK"], "event_timestamp": ["2013-01-09T02:00:00Z"]}},
            "one length",
        ),
    ],
)
def test_a_bad_push_is_422_naming_the_problem(pushing, change, complaint) -> None:
    response = pushing.post(
        "/push", json={**row(1.0, "2013-01-09T02:00:00Z"), **change}, headers=TOKEN
    )
    assert response.status_code == 422 and complaint in response.json()["detail"]


def test_push_needs_the_admin_token(pushing, client) -> None:
    body = row(1.0, "2013-01-10T00:00:00Z")
    assert pushing.post("/push", json=body).status_code == 401
    assert (
        pushing.post("/push", json=body, headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    disabled = client.post("/push", json=body, headers=TOKEN)  # that server has no token set
    assert disabled.status_code == 403 and "LARDER_ADMIN_TOKEN" in disabled.json()["detail"]


def test_serving_goes_on_while_a_view_materializes(pushing, as_of) -> None:
    from feast import FeatureStore
    from feast.feature_view import FeatureViewState

    repo = pushing.app.state.settings.feature_repo
    writer = FeatureStore(repo_path=str(repo))
    view = writer.get_feature_view("carrier_performance")
    view.state = FeatureViewState.MATERIALIZING
    writer.registry.apply_feature_view(view, writer.project, commit=True)
    stock = FeatureStore(repo_path=str(repo))
    with pytest.raises(ValueError, match="MATERIALIZING"):
        stock.get_online_features(
            features=["carrier_performance:on_time_rate_7d"], entity_rows=[{"carrier": "UA"}]
        )
    pushing.post("/admin/reload", headers=TOKEN)  # our server sees the new state, and serves anyway

    job = threading.Thread(target=writer.materialize, args=(as_of - timedelta(days=30), as_of))
    job.start()
    body = {
        "entities": {"carrier": ["UA"]},
        "features": ["carrier_performance:on_time_rate_7d"],
        "as_of": as_of.isoformat(),
    }
    answers = []
    while job.is_alive() or not answers:
        answers.append(pushing.post("/get-online-features", json=body))
    job.join()
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["results"][1]["statuses"][0] for a in answers} == {"PRESENT"}
