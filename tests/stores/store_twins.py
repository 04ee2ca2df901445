"""Two Feast stores over the same definitions and data: stock Feast's DuckDB + SQLite stores and
this repo's as-of + bulk stores, each with its own registry and online file."""

import contextlib
import sys
from pathlib import Path

STOCK = {"online": {"type": "sqlite"}, "offline": {"type": "duckdb"}, "engine": "local"}
FAST = {
    "online": {"type": "stores.online.BulkSqliteOnlineStore"},
    "offline": {"type": "stores.offline.AsofDuckDBOfflineStore", "memory_limit": "1GB"},
    "engine": {"type": "stores.engine.BulkComputeEngine"},
}


def feature_store(folder: Path, kind: dict, objects: list, project: str = "twins"):
    """A FeatureStore configured in code (no yaml) with `objects` applied."""
    from feast import FeatureStore, RepoConfig

    folder.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project=project,
        provider="local",
        registry=str(folder / "registry.db"),
        online_store={**kind["online"], "path": str(folder / "online.db")},
        offline_store=kind["offline"],
        batch_engine=kind["engine"],
        entity_key_serialization_version=3,
        repo_path=str(folder),
    )
    store = FeatureStore(config=config)
    store.apply(objects)
    return store


def repo_objects(repo: Path) -> list:
    """Every Feast object declared in the feature repo folder `repo`."""
    from feast.repo_operations import parse_repo

    # Feast imports the repo's modules by names relative to the cwd, as `feast apply` does:
    # another domain's modules of the same names are put aside meanwhile.
    names = [p.stem for p in repo.glob("*.py")]
    before = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(repo))
    try:
        with contextlib.chdir(repo):
            found = parse_repo(repo)
    finally:
        sys.path.remove(str(repo))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(before)
    return [
        *found.data_sources,
        *found.entities,
        *found.feature_views,
        *found.on_demand_feature_views,
        *found.feature_services,
    ]
