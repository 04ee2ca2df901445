"""Each server tier keeps the platform's promises on each domain, against real Redis and
PostgreSQL: online = offline after materializing (the pipeline's own parity check, run while
building `tiered`), the server answers what the embedded tier answers (statuses, ttl included),
the newest pushed row wins, no request fails while the tier is materialized again, an outage is
a 503 naming the store and passes by itself, and the SQL registry takes two jobs at once."""

import subprocess
import sys
import threading
from datetime import timedelta

import pandas as pd
import pytest

from pipelines import parity, stages
from tests.conftest import ROOT
from tests.tiers.conftest import TOKEN, services

pytestmark = pytest.mark.tiers


def test_online_equals_offline_on_every_sampled_entity(tiered) -> None:
    entities, mismatches = parity.check(tiered.store, tiered.as_of, sample=None)
    assert entities > 0 and mismatches == []


def _service_body(tiered, as_of, **entities) -> dict:
    task = tiered.platform.domain.task
    keys = {k: [v] for k, v in tiered.request.items()}
    keys.update({k: [v] for k, v in entities.items()})
    return {"feature_service": task.feature_service, "entities": keys, "as_of": as_of}


def _same_answers(tiered, body: dict) -> dict:
    ours = tiered.client.post("/get-online-features", json=body)
    theirs = tiered.reference.post("/get-online-features", json=body)
    assert ours.status_code == theirs.status_code == 200, ours.text
    assert ours.json() == theirs.json()
    return ours.json()


def test_online_reads_answer_what_the_embedded_tier_answers(tiered) -> None:
    """Present values, and every view's ttl past (OUTSIDE_MAX_AGE)."""
    _same_answers(tiered, _service_body(tiered, tiered.as_of.isoformat()))
    later = _same_answers(tiered, _service_body(tiered, _past_ttl(tiered)))
    assert "OUTSIDE_MAX_AGE" in {s for r in later["results"] for s in r["statuses"]}


def test_an_unknown_entity_is_not_found_as_on_the_embedded_tier(tiered) -> None:
    """Feast's redis store answers an entity it never stored as stored at 1970-01-01 with
    empty values (its own get_online_features says PRESENT, value null); serving/online.py
    reads that as not stored, as every other store answers it."""
    text = next(k for k, v in tiered.request.items() if isinstance(v, str))
    body = _service_body(tiered, tiered.as_of.isoformat(), **{text: "NO SUCH ENTITY"})
    answer = _same_answers(tiered, body)
    assert "NOT_FOUND" in {s for r in answer["results"] for s in r["statuses"]}


def test_no_request_fails_while_the_tier_is_materialized_again(tiered) -> None:
    body = _service_body(tiered, tiered.as_of.isoformat())
    before = tiered.client.post("/get-online-features", json=body).json()
    stop, seen = threading.Event(), []

    def hammer() -> None:
        while not stop.is_set():
            for path, sent in (("/get-online-features", body), ("/predict", tiered.request)):
                answer = tiered.client.post(path, json=sent)
                seen.append((path, answer.status_code, answer.text))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        stages.materialize_and_check(tiered.platform)  # the same rows, written again
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert seen and [s for s in seen if s[1] != 200] == []
    reads = [text for path, _, text in seen if path == "/get-online-features"]
    assert set(reads) == {tiered.client.post("/get-online-features", json=body).text}
    assert tiered.client.post("/get-online-features", json=body).json() == before


def _past_ttl(tiered) -> str:
    return (tiered.as_of + timedelta(days=400)).isoformat()


def test_predictions_are_the_embedded_tiers(tiered) -> None:
    task = tiered.platform.domain.task
    later = {**tiered.request, task.time: _past_ttl(tiered)}
    for request in (tiered.request, later):
        ours = tiered.client.post("/predict", json=request)
        theirs = tiered.reference.post("/predict", json=request)
        assert ours.status_code == theirs.status_code == 200, ours.text
        mine, reference = ours.json(), theirs.json()
        assert mine.pop("request_id") != reference.pop("request_id")
        assert mine == reference
    assert "outside_max_age" in {f["status"] for f in mine["features"].values()}


def _push_view(tiered):
    """A view of the domain fed by a push source (flights has none: the tests add one)."""
    from feast.data_source import PushSource

    for view in tiered.store.list_feature_views():
        if isinstance(view.stream_source, PushSource):
            return view
    raise AssertionError("the tier tests give every domain a push source")


SAMPLE = {"Float64": 1.5, "Float32": 1.5, "Int64": 7, "Int32": 7, "String": "x", "Bool": True}


def test_the_newest_pushed_row_wins(tiered) -> None:
    view = _push_view(tiered)
    stamp = view.stream_source.batch_source.timestamp_field
    entity = {
        c.name: ["TIER TEST" if str(c.dtype) == "String" else 2099] for c in view.entity_columns
    }
    features = [f for f in view.features if str(f.dtype) in SAMPLE]
    feature = next(f for f in features if str(f.dtype) in ("Float64", "Int64", "Float32", "Int32"))
    newer, older = tiered.as_of + timedelta(minutes=30), tiered.as_of + timedelta(minutes=10)

    def push(value, at) -> dict:
        df = {**entity, stamp: [at.isoformat()]}
        df.update({f.name: [SAMPLE[str(f.dtype)]] for f in features})
        df[feature.name] = [value]
        body = {"push_source_name": view.stream_source.name, "df": df}
        answer = tiered.client.post("/push", json=body, headers=TOKEN)
        assert answer.status_code == 200, answer.text
        return answer.json()["views"][0]

    assert push(5, newer)["written"] == 1
    assert push(-5, older) == {"view": view.name, "written": 0, "skipped_older": 1}
    read = {
        "entities": entity,
        "features": [f"{view.name}:{feature.name}"],
        "as_of": (newer + timedelta(minutes=1)).isoformat(),
    }
    found = tiered.client.post("/get-online-features", json=read).json()["results"][-1]
    assert (found["values"], found["statuses"]) == ([5], ["PRESENT"])
    assert pd.Timestamp(found["event_timestamps"][0]) == pd.Timestamp(newer).floor("s")


def _outage_of(tier: str) -> list[str]:
    return {"redis": ["redis"], "postgres": ["postgres"], "server": ["redis"]}[tier]


def test_an_outage_is_a_503_naming_the_store_and_passes_by_itself(tiered) -> None:
    """On PostgreSQL through stores/postgres.py, whose pool fails within wait_s: Feast's own
    postgres store would hold each request 30 s, or keep a broken connection for ever."""
    down = _outage_of(tiered.tier)
    body = _service_body(tiered, tiered.as_of.isoformat())
    before = tiered.client.post("/get-online-features", json=body)
    assert before.status_code == 200
    for name in down:
        services("stop", name)
    try:
        for path, sent in (("/get-online-features", body), ("/predict", tiered.request)):
            answer = tiered.client.post(path, json=sent)
            assert answer.status_code == 503, answer.text
            detail = answer.json()["detail"]
            assert "unavailable" in detail and ("Redis" in detail or "PostgreSQL" in detail)
    finally:
        for name in down:
            services("start", name)
    after = _eventually_ok(tiered.client, body)
    assert after.json() == before.json()


def _eventually_ok(client, body, tries: int = 50):
    import time

    for _ in range(tries):
        answer = client.post("/get-online-features", json=body)
        if answer.status_code == 200:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"the server did not recover: {answer.status_code} {answer.text}")


SHARED_JOB = """
import sys
from pathlib import Path
from larder import tier
from pipelines.materialize import apply

repo = Path(sys.argv[1])
for _ in range(3):
    apply(repo)
    store = tier.open_store(repo)
    assert store.list_feature_views(), "the shared registry lost its views"
    store.refresh_registry()
"""


def test_the_sql_registry_is_shared_by_two_jobs_at_once(tiered) -> None:
    if tiered.store.config.registry.registry_type != "sql":
        pytest.skip("this tier keeps the domain's file registry")
    repo = str(tiered.platform.feature_repo)
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", SHARED_JOB, repo], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for job in jobs:
        _, err = job.communicate(timeout=300)
        assert job.returncode == 0, err[-2000:]
    assert {v.name for v in tiered.store.list_feature_views(allow_cache=False)}
