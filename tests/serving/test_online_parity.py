"""The fast read path answers what Feast's own feature server answers, view by view, except
that values older than their view's ttl are OUTSIDE_MAX_AGE and withheld."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.request_features import flight_schedule, own_transformation


@pytest.fixture(scope="module")
def feast_server(store):
    from feast.feature_server import get_app

    with TestClient(get_app(store)) as client:
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
def test_every_view_reads_as_feast_reads_it(client, feast_server, store, as_of, full) -> None:
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


def test_the_feature_service_with_request_features_reads_as_feast(client, feast_server, as_of):
    rows = {"tailnum": ["N14228", "N0NE"], "carrier": ["UA", "AA"], "origin": ["EWR", "JFK"]}
    moments = ["2013-01-07T15:00:00Z", "2013-01-07T10:15:00-05:00"]  # Feast misreads epoch ints
    request = {"scheduled_departure": moments, "distance": [1400, 3]}
    body = {"entities": {**rows, **request}, "feature_service": "flight_delay_v1"}
    ours, theirs = both(client, feast_server, {**body, "as_of": as_of.isoformat()})
    assert_same_except_stale(ours, theirs)
    assert list(ours)[:3] == ["tailnum", "carrier", "origin"]  # join keys echoed first


def test_without_as_of_the_clock_is_now_so_2013_values_are_stale(client) -> None:
    body = {"entities": {"carrier": ["UA"]}, "features": ["carrier_performance:on_time_rate_7d"]}
    result = client.post("/get-online-features", json=body).json()["results"][1]
    assert set(result["statuses"]) == {"OUTSIDE_MAX_AGE"} and set(result["values"]) == {None}


# Up to 2037: pandas' time-zone database (pytz) stops applying DST there, zoneinfo does not.
@settings(max_examples=60, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
    ),
    distance=st.integers(min_value=1, max_value=100_000),
)
def test_the_request_feature_twin_equals_the_odfvs_own_transformation(store, moment, distance):
    view = store.get_on_demand_feature_view("flight_schedule")
    columns = {"scheduled_departure": [moment], "distance": [distance]}
    assert flight_schedule(**columns) == own_transformation(view, columns)
