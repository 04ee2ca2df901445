"""After materializing up to the watermark T, every entity's online value equals the offline
point-in-time value at T; and a broken online store is caught."""

import shutil
import sqlite3

from pipelines.materialize import watermark
from pipelines.parity import check, compare, entity_keys, keyed_alike
from pipelines.settings import PipelineSettings


def _store(settings: PipelineSettings):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(settings.feature_repo))


def test_online_equals_offline_at_the_watermark(platform: PipelineSettings) -> None:
    store = _store(platform)
    compared, mismatches = check(store, watermark(platform.offline), sample=None)
    assert mismatches == []
    assert compared > 40
    keys = entity_keys(keyed_alike(store)[("tailnum",)], ("tailnum",), None, 0)
    online = store.get_online_features(
        features=["aircraft_history:flights_7d"], entity_rows=keys.to_dicts()
    ).to_dict()
    assert any(v is not None for v in online["flights_7d"])  # real values were compared


def test_a_corrupted_online_value_is_caught(platform: PipelineSettings, tmp_path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(platform.feature_repo, copy, ignore=shutil.ignore_patterns("mlflow*"))
    settings = PipelineSettings(feature_repo=copy)
    online = settings.data_dir / "online" / "online.db"
    with sqlite3.connect(online) as db:
        (table,) = db.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '%carrier_performance'"
        ).fetchone()
        db.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} LIMIT 1)")
    store = _store(settings)
    views = keyed_alike(store)[("carrier",)]
    keys = entity_keys(views, ("carrier",), None, 0)
    mismatches = compare(store, views, keys, watermark(settings.offline))
    assert mismatches and all(m.feature.startswith("carrier_performance__") for m in mismatches)
