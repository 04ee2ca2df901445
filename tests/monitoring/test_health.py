"""Freshness per view, from the platform's bulk store and from stock Feast's SQLite store (which
has no one-query answer: it is read for sampled entities through Feast's own API)."""

from monitoring.health import freshness
from pipelines.materialize import materialize_store, watermark
from tests.stores.store_twins import FAST, STOCK, feature_store, repo_objects


def test_freshness_reads_alike_from_the_bulk_and_the_stock_online_store(platform, tmp_path):
    objects = repo_objects(platform.feature_repo)
    end = watermark(platform.offline)
    stores = [
        feature_store(tmp_path / k, kind, objects) for k, kind in (("fast", FAST), ("stock", STOCK))
    ]
    for store in stores:
        materialize_store(store, end)
    views = sorted(v.name for v in stores[0].list_feature_views())
    fast, stock = (freshness(store, views, end, sample=10_000) for store in stores)
    assert [f["view"] for f in stock] == views
    assert stock == fast
    assert all(f["newest"] is not None for f in stock)
