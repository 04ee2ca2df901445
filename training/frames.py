"""Point-in-time training frames from the Feast offline store, named by a FeatureService.

The service is the only list of features: names and types come from the registry, and the
frame's feature columns are the service's, in the service's order (view by view). Every build
passes the leakage guard (training/leakage.py) before anyone can train on it.
"""

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from training import leakage
from training.errors import DataError, MissingInputError
from training.labels import ENTITY_COLUMNS, ROW_ID
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore


def open_store(repo: Path) -> "FeatureStore":
    """The Feast store of `repo`, refusing a repo whose registry was never written."""
    if not (repo / "feature_store.yaml").is_file():
        raise MissingInputError(f"no feature_store.yaml in {repo}: set FLIGHTS_FEATURE_REPO")
    from feast import FeatureStore  # costs seconds: only where needed

    store = FeatureStore(repo_path=str(repo))
    registry = _registry_file(store)
    if registry is not None and not registry.is_file():
        raise MissingInputError(
            f"no Feast registry at {registry}: register the feature repo first "
            "(`python -m pipelines apply`)"
        )
    return store


def _registry_file(store: "FeatureStore") -> Path | None:
    """The local registry file, or None for a registry held by a database or object store."""
    config = store.config.registry
    if config.registry_type != "file" or "://" in config.path:
        return None
    path = Path(config.path)
    return path if path.is_absolute() else (Path(store.repo_path) / path).resolve()


def get_service(store: "FeatureStore", name: str) -> "FeatureService":
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(name)
    except FeatureServiceNotFoundException as exc:
        raise MissingInputError(
            f"FeatureService {name!r} is not registered for {store.repo_path}: run "
            "`python -m pipelines apply`, or set FLIGHTS_FEATURE_SERVICE to one that is"
        ) from exc


def service_schema(service: "FeatureService") -> dict[str, str]:
    """Feature name -> Feast type name, in the order Feast returns the columns."""
    return {
        field.name: str(field.dtype)
        for projection in service.feature_view_projections
        for field in projection.features
    }


def feature_schema(settings: TrainingSettings) -> dict[str, str]:
    """The settings' FeatureService as the registry knows it: name -> type, in order."""
    store = open_store(settings.feature_repo)
    return service_schema(get_service(store, settings.feature_service))


def check_sources(store: "FeatureStore", service: "FeatureService") -> None:
    """Every offline table behind the service exists (DuckDB's error would not say why)."""
    wanted = {projection.name for projection in service.feature_view_projections}
    for view in store.list_feature_views():
        path = getattr(view.batch_source, "path", None)
        if view.name not in wanted or not path or "://" in path:
            continue
        table = Path(path) if Path(path).is_absolute() else Path(store.repo_path) / path
        if not table.exists():
            raise MissingInputError(
                f"no offline table {table} for feature view {view.name!r}: build the offline "
                "store first (`python -m pipelines transform`)"
            )


def build_training_frame(settings: TrainingSettings, entities: pd.DataFrame) -> pd.DataFrame:
    """`entities` with the service's features appended as float64 columns, rows in order."""
    if entities.empty:
        raise DataError("no entity rows: the offline flights table is empty")
    store = open_store(settings.feature_repo)
    service = get_service(store, settings.feature_service)
    check_sources(store, service)
    return historical_frame(store, service, entities, settings.frame_chunk_rows)


def historical_frame(
    store: "FeatureStore", service: "FeatureService", entities: pd.DataFrame, chunk_rows: int
) -> pd.DataFrame:
    """Feast's point-in-time answer for `entities`, joined back in order, leakage-checked."""
    parts = [
        # filter_by_created_timestamp: a value backfilled after t is not one known at t
        # (a no-op for views without a created-timestamp column, as all of ours today)
        store.get_historical_features(
            entity_df=chunk, features=service, filter_by_created_timestamp=True
        ).to_df()
        for chunk in _chunks(entities[ENTITY_COLUMNS], chunk_rows)
    ]
    names = list(service_schema(service))
    frame = join_back(entities, pd.concat(parts, ignore_index=True), names)
    leakage.check_frame(store, service, frame)
    return frame


def registry_fingerprint(store: "FeatureStore", service: "FeatureService") -> str:
    """sha256 of the registered specs of the service, its views and their entities.

    Specs only, not the registry file: the file changes on every `feast apply` (timestamps)
    even when no definition did.
    """
    names = {p.name for p in service.feature_view_projections}
    views = [v for v in store.list_feature_views() if v.name in names]
    views += [v for v in store.list_on_demand_feature_views() if v.name in names]
    entities = {e for v in views for e in getattr(v, "entities", [])}
    objects = [service, *views, *(e for e in store.list_entities() if e.name in entities)]
    specs = sorted(obj.to_proto().spec.SerializeToString(deterministic=True) for obj in objects)
    return hashlib.sha256(b"\x00".join(specs)).hexdigest()


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        # a copy: Feast rewrites the timestamp column of the frame it is given
        yield frame.iloc[start : start + size].copy()


def join_back(entities: pd.DataFrame, features: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Feast answers in its own order: match rows on row_id, exactly one answer per row."""
    missing = [name for name in names if name not in features.columns]
    if missing:
        raise DataError(f"Feast's answer lacks the service's feature(s) {missing}")
    ids = features[ROW_ID]
    if len(ids) != len(entities) or not ids.is_unique or not ids.isin(entities[ROW_ID]).all():
        raise DataError(
            f"Feast answered {len(ids)} rows ({ids.nunique()} distinct row ids) for "
            f"{len(entities)} entity rows: the frame cannot be joined back one to one"
        )
    return entities.join(features.set_index(ROW_ID)[names].astype("float64"), on=ROW_ID)
