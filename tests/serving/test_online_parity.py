"""The read path answers what Feast's own feature server answers, view by view and for each
domain's FeatureService (its on-demand features computed by the views' own transformations),
except that values older than their view's ttl are OUTSIDE_MAX_AGE and withheld."""

from datetime import timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from training.contract import service_inputs


@pytest.fixture(scope="module")
def feast_server(domain_server):
    from feast.feature_server import get_app

    with TestClient(get_app(domain_server.store)) as client:
        yield client


def view_entities(view, rows: int = 40) -> dict[str, list]:
    """Entities of the view's offline table (every join key), plus one the store lacks."""
    keys = [c.name for c in view.entity_columns]
    table = pd.read_parquet(view.batch_source.path, columns=keys).drop_duplicates().head(rows)
    return {k: [*map(_plain, table[k])] + [_unknown(table[k].iloc[0])] for k in keys}


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _unknown(sample):
    return "ZZZZ" if isinstance(sample, str) else -1


def both(client, feast_server, body: dict) -> tuple[dict, dict]:
    ours, theirs = (
        client.post("/get-online-features", json=body),
        feast_server.post("/get-online-features", json=body),
    )
    assert ours.status_code == theirs.status_code == 200, ours.text
    return by_name(ours.json()), by_name(theirs.json())


def by_name(body: dict) -> dict:
    return dict(zip(body["metadata"]["feature_names"], body["results"], strict=True))


def assert_same_except_stale(ours: dict, theirs: dict) -> int:
    """Everything equal where we say fresh; stale values withheld. Returns how many stale."""
    assert ours.keys() == theirs.keys()
    stale = 0
    for name, mine in ours.items():
        for i, status in enumerate(mine["statuses"]):
            if status == "OUTSIDE_MAX_AGE":
                stale += 1
                assert mine["values"][i] is None and theirs[name]["statuses"][i] == "PRESENT"
                assert mine["event_timestamps"][i] == theirs[name]["event_timestamps"][i]
            else:
                got = (mine["values"][i], status, mine["event_timestamps"][i])
                want = (theirs[name][k][i] for k in ("values", "statuses", "event_timestamps"))
                assert got == tuple(want), (name, i)
    return stale


@pytest.mark.parametrize("full", [False, True])
def test_every_view_reads_as_feast_reads_it(domain_server, feast_server, full) -> None:
    client, store, as_of = domain_server.client, domain_server.store, domain_server.as_of
    for view in store.list_feature_views():
        features = [f"{view.name}:{f.name}" for f in view.features]
        body = {"entities": view_entities(view), "features": features, "full_feature_names": full}
        ours, theirs = both(client, feast_server, {**body, "as_of": as_of.isoformat()})
        assert_same_except_stale(ours, theirs)
        # Far in the future, everything found is stale and nothing is served.
        later = {**body, "as_of": (as_of + timedelta(days=40000)).isoformat()}
        ours, theirs = both(client, feast_server, later)
        found = sum(
            s == "PRESENT"
            for r in list(theirs.values())[len(body["entities"]) :]
            for s in r["statuses"]
        )
        assert assert_same_except_stale(ours, theirs) == found, view.name


def _service_body(store, service: str, request: dict, unknown: bool = True) -> dict:
    """Entities for a FeatureService: the known request, and the same with unknown keys."""
    keys, requested = service_inputs(store, store.get_feature_service(service))
    rows = (
        [request, {**request, **{k: _unknown(request[k]) for k in keys}}] if unknown else [request]
    )
    entities = {name: [row[name] for row in rows] for name in [*keys, *requested]}
    return {"entities": entities, "feature_service": service}


def test_the_feature_service_with_request_features_reads_as_feast(domain_server, feast_server):
    store, task = domain_server.store, domain_server.platform.domain.task
    body = _service_body(store, task.feature_service, domain_server.request)
    ours, theirs = both(
        domain_server.client, feast_server, {**body, "as_of": domain_server.as_of.isoformat()}
    )
    assert_same_except_stale(ours, theirs)
    keys, _ = service_inputs(store, store.get_feature_service(task.feature_service))
    assert list(ours)[: len(keys)] == keys  # join keys echoed first


def test_on_demand_features_reading_a_view_read_as_feast(platform, store, known_flight):
    """flight_delay_v2's plane_age reads the plane_attributes view and the request."""
    from feast.feature_server import get_app

    from serving.app import create_app
    from serving.settings import ServingSettings
    from tests.serving.conftest import champion_uri

    settings = ServingSettings(
        feature_repo=platform.feature_repo, mlflow_tracking_uri=champion_uri(platform)
    )
    request = {**known_flight, "dest": "IAH"}
    with TestClient(create_app(settings)) as ours_client, TestClient(get_app(store)) as feast:
        body = _service_body(store, "flight_delay_v2", request)
        ours, theirs = both(
            ours_client,
            feast,
            {
                **body,
                "as_of": (
                    pd.Timestamp(known_flight["scheduled_departure"]) - timedelta(hours=2)
                ).isoformat(),
            },
        )
    assert_same_except_stale(ours, theirs)
    assert ours["plane_age_years"]["values"][0] is not None  # a plane the registry knows


def test_without_as_of_the_clock_is_now_so_old_values_are_stale(client) -> None:
    body = {"entities": {"carrier": ["UA"]}, "features": ["carrier_performance:on_time_rate_7d"]}
    result = client.post("/get-online-features", json=body).json()["results"][1]
    assert set(result["statuses"]) == {"OUTSIDE_MAX_AGE"} and set(result["values"]) == {None}
