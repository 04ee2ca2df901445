"""Feast's own `remote` online store, pointed at this server, gets what a local store reads, on
every domain."""

import pytest

from serving.app import create_app
from tests.serving.live import live
from training.contract import service_inputs


@pytest.fixture(scope="module")
def remote_store(domain_server, tmp_path_factory):
    from feast import FeatureStore

    settings = domain_server.settings.model_copy(update={"as_of": domain_server.as_of})
    repo = tmp_path_factory.mktemp("remote_client")
    platform = domain_server.platform
    with live(create_app(settings)) as url:
        (repo / "feature_store.yaml").write_text(
            f"project: {platform.domain.project}\nprovider: local\n"
            f"registry: {platform.data_dir / 'registry' / 'registry.db'}\n"
            f"online_store:\n  type: remote\n  path: {url}\n"
            "entity_key_serialization_version: 3\n"
        )
        yield FeatureStore(repo_path=str(repo))


def _rows(domain_server) -> list[dict]:
    task, store = domain_server.platform.domain.task, domain_server.store
    keys, requested = service_inputs(store, store.get_feature_service(task.feature_service))
    known = {k: domain_server.request[k] for k in [*keys, *requested]}
    text = next(k for k in keys if isinstance(known[k], str))
    return [known, {**known, text: "NO SUCH ENTITY"}]


def test_feature_refs_through_the_remote_store(domain_server, remote_store) -> None:
    store = domain_server.store
    rows = _rows(domain_server)
    features = [  # a feature of every view keyed by what the rows hold
        f"{v.name}:{v.features[0].name}"
        for v in store.list_feature_views()
        if v.features and {c.name for c in v.entity_columns} <= set(rows[0])
    ]
    keys = {c.name for v in store.list_feature_views() for c in v.entity_columns}
    rows = [{k: v for k, v in r.items() if k in keys} for r in rows]
    read = {
        s: s.get_online_features(features=features, entity_rows=rows).to_dict()
        for s in (remote_store, store)
    }
    assert read[remote_store] == read[store]


def test_the_feature_service_through_the_remote_store(domain_server, remote_store) -> None:
    task, store = domain_server.platform.domain.task, domain_server.store
    rows = _rows(domain_server)
    service = store.get_feature_service(task.feature_service)
    remote = remote_store.get_online_features(features=service, entity_rows=rows).to_dict()
    local = store.get_online_features(features=service, entity_rows=rows).to_dict()
    assert remote.keys() == local.keys()
    _, requested = service_inputs(store, service)
    fresh = {k: v for k, v in remote.items() if k not in requested}
    assert fresh == {k: local[k] for k in fresh}
