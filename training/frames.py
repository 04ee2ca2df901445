"""Point-in-time training frames from the Feast offline store, named by a FeatureService.

The service is the only list of features: names and types come from the registry, and the
frame's feature columns are the service's, in the service's order (view by view). What an
entity row must carry comes from the service too: the join keys of its views (and of the views
its on-demand views read) and the fields of its request sources. Every build passes the
leakage guard (training/leakage.py) before anyone can train on it.
"""

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from larder import Task, tier
from training import leakage
from training.contract import find_service, service_inputs, service_reads
from training.errors import DataError, MissingInputError
from training.examples import ROW_ID, TIMESTAMP, entity_columns, entity_frame, read_examples
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from feast import Entity, FeatureService, FeatureStore, FeatureView, OnDemandFeatureView


def open_store(repo: Path) -> "FeatureStore":
    """The Feast store of `repo`, refusing a repo whose registry was never written."""
    if not (repo / "feature_store.yaml").is_file():
        raise MissingInputError(f"no feature_store.yaml in {repo}: set LARDER_FEATURE_REPO")
    store = tier.open_store(repo)
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
    return find_service(store, name, MissingInputError)


def service_schema(service: "FeatureService") -> dict[str, str]:
    """Feature name -> Feast type name, in the order Feast returns the columns."""
    return {
        field.name: str(field.dtype)
        for projection in service.feature_view_projections
        for field in projection.features
    }


def entities_for(
    store: "FeatureStore", service: "FeatureService", examples: pd.DataFrame, task: Task
) -> pd.DataFrame:
    keys, requested = service_inputs(store, service)
    return entity_frame(examples, task, keys, requested)


def feature_schema(settings: TrainingSettings) -> dict[str, str]:
    """The settings' FeatureService as the registry knows it: name -> type, in order."""
    store = open_store(settings.feature_repo)
    return service_schema(get_service(store, settings.service))


def check_sources(store: "FeatureStore", service: "FeatureService") -> None:
    """Every offline table behind the service exists (DuckDB's error would not say why),
    those its on-demand views read included."""
    wanted = set(service_reads(store, service).views)
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


def build_training_frame(settings: TrainingSettings, examples: pd.DataFrame) -> pd.DataFrame:
    """The examples' entity rows with the service's features (numbers as float64, strings as
    objects), in order."""
    if examples.empty:
        raise DataError("no examples: the offline examples table is empty")
    store = open_store(settings.feature_repo)
    service = get_service(store, settings.service)
    check_sources(store, service)
    entities = entities_for(store, service, examples, settings.task)
    return historical_frame(store, service, entities, settings.frame_chunk_rows, settings.task)


def load_examples(settings: TrainingSettings) -> pd.DataFrame:
    """The task's examples whose label is known by the time the data reaches (what transform
    wrote as `labels_until`: the latest moment all the examples' sources are known)."""
    import json

    mark = settings.data_dir / "offline" / "_watermark.json"
    known_by = None
    if mark.is_file():
        until = json.loads(mark.read_text()).get("labels_until")
        known_by = pd.Timestamp(until) if until else None
    return read_examples(settings.examples_table, settings.task, known_by)


def historical_frame(
    store: "FeatureStore",
    service: "FeatureService",
    entities: pd.DataFrame,
    chunk_rows: int,
    task: Task,
) -> pd.DataFrame:
    """Feast's point-in-time answer for `entities`, joined back in order, leakage-checked."""
    keys, requested = service_inputs(store, service)
    parts = [
        # filter_by_created_timestamp: a value backfilled after t is not one known at t
        # (a no-op for views without a created-timestamp column)
        store.get_historical_features(
            entity_df=chunk, features=service, filter_by_created_timestamp=True
        ).to_df()
        for chunk in _chunks(entities[entity_columns(keys, requested)], chunk_rows)
    ]
    names = list(service_schema(service))
    frame = join_back(entities, pd.concat(parts, ignore_index=True), names)
    leakage.check_frame(store, service, frame, task.label)
    for projection in hidden_reads(store, service):
        leakage.check_hidden(store, projection, hidden_frame(store, projection, entities, keys))
    return frame


def hidden_reads(store: "FeatureStore", service: "FeatureService") -> list:
    """The projections of batch views the service's on-demand views read but it does not list:
    their values go into the frame only through the on-demand views."""
    reads = service_reads(store, service)
    return [
        read
        for view in reads.on_demand
        for read in view.source_feature_view_projections.values()
        if read.name in reads.hidden
    ]


def hidden_frame(
    store: "FeatureStore", projection, entities: pd.DataFrame, keys: list[str]
) -> pd.DataFrame:
    """What Feast's point-in-time join gives an on-demand view from one view it reads."""
    names = [f.name for f in projection.features]
    refs = [f"{projection.name}:{name}" for name in names]
    columns = [ROW_ID, TIMESTAMP, *keys]
    # the view's own key names: plain references carry no projection's join-key map
    own = {mapped: key for key, mapped in (projection.join_key_map or {}).items()}
    asked = entities[columns].rename(columns=own)
    answer = store.get_historical_features(entity_df=asked, features=refs).to_df()
    return join_back(entities[columns], answer[[ROW_ID, *names]], names)


def registry_fingerprint(store: "FeatureStore", service: "FeatureService") -> str:
    """sha256 of the registered specs of the service, its views and their entities.

    Specs only, not the registry file: the file changes on every `feast apply` (timestamps)
    even when no definition did.
    """
    reads = service_reads(store, service)
    views: list[FeatureView | OnDemandFeatureView] = [
        v for v in store.list_feature_views() if v.name in reads.views
    ]
    views += reads.on_demand
    entities = {e for v in views for e in getattr(v, "entities", [])}
    objects: list[FeatureService | FeatureView | OnDemandFeatureView | Entity] = [service, *views]
    objects += [e for e in store.list_entities() if e.name in entities]
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
    clash = [n for n in names if n in entities.columns]
    if clash:
        raise DataError(
            f"feature(s) {clash} have the names of entity columns: rename them in the view"
        )
    return entities.join(as_model_columns(features.set_index(ROW_ID)[names]), on=ROW_ID)


def as_model_columns(features: pd.DataFrame) -> pd.DataFrame:
    """Numbers (and booleans) as float64 with NaN for missing; strings as objects with None."""
    out = {}
    for name, values in features.items():
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            out[name] = values.astype("float64")
        else:
            out[name] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(out, index=features.index)
