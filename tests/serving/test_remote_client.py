"""Feast's own `remote` online store, pointed at this server, gets what a local store reads."""

import pytest

from serving.app import create_app
from tests.serving.live import live


@pytest.fixture(scope="module")
def remote_store(platform, serving_settings, as_of, tmp_path_factory):
    from feast import FeatureStore

    settings = serving_settings.model_copy(update={"as_of": as_of, "reload_interval_s": 0})
    repo = tmp_path_factory.mktemp("remote_client")
    with live(create_app(settings)) as url:
        (repo / "feature_store.yaml").write_text(
            "project: flights\nprovider: local\n"
            f"registry: {platform.data_dir / 'registry' / 'registry.db'}\n"
            f"online_store:\n  type: remote\n  path: {url}\n"
            "entity_key_serialization_version: 3\n"
        )
        yield FeatureStore(repo_path=str(repo))


ROWS = [
    {"tailnum": "N14228", "carrier": "UA", "origin": "EWR"},
    {"tailnum": "N0NE", "carrier": "AA", "origin": "LGA"},
]


def test_feature_refs_through_the_remote_store(remote_store, store) -> None:
    features = ["carrier_performance:on_time_rate_7d", "origin_weather:temp"]
    read = {
        s: s.get_online_features(features=features, entity_rows=ROWS).to_dict()
        for s in (remote_store, store)
    }
    assert read[remote_store] == read[store]


def test_the_feature_service_through_the_remote_store(remote_store, store) -> None:
    rows = [{**r, "scheduled_departure": "2013-01-07T15:00:00Z", "distance": 1400} for r in ROWS]
    service = store.get_feature_service("flight_delay_v1")
    remote = remote_store.get_online_features(features=service, entity_rows=rows).to_dict()
    local = store.get_online_features(features=service, entity_rows=rows).to_dict()
    assert remote.keys() == local.keys()
    fresh = {k: v for k, v in remote.items() if k not in {"scheduled_departure", "distance"}}
    assert fresh == {k: local[k] for k in fresh}
