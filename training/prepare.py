"""The first stage of a run: labelled flights -> a validated, fingerprinted, saved frame.

Built through Feast (and its leakage guard), or read back from a saved frame to reproduce a
run; either way it is validated against the FeatureService as the registry knows it now.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from training import dataset, frames
from training.errors import DataError
from training.labels import LABEL, load_entities
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore
from training.report import Report, silent


@dataclass(frozen=True)
class Prepared:
    frame: pd.DataFrame
    schema: dict[str, str]  # feature name -> Feast type, in the service's order
    feature_refs: list[str]  # `view:feature`, as Feast names them
    missing: dict[str, float]  # share of missing values per feature
    fingerprint: str
    path: Path
    registry_fingerprint: str
    seconds: float  # time spent retrieving (0 for a saved frame)

    @property
    def names(self) -> list[str]:
        return list(self.schema)


def prepare(
    settings: TrainingSettings,
    report: Report = silent,
    saved: Path | None = None,
    store: "FeatureStore | None" = None,
) -> Prepared:
    # labels first: a platform without an offline store should hear that, not "no registry"
    entities = None if saved else _labels(settings, report)
    store = store or frames.open_store(settings.feature_repo)
    service = frames.get_service(store, settings.feature_service)
    start = time.perf_counter()
    frame = dataset.load_frame(saved) if saved else _build(settings, entities, store, service)
    seconds = 0.0 if saved else time.perf_counter() - start
    schema = frames.service_schema(service)
    missing = dataset.validate_frame(frame, schema)
    report(
        "frame",
        f"{len(frame)} rows x {len(schema)} features of {settings.feature_service}"
        + (f" from {saved}" if saved else " through Feast, leakage guard passed"),
    )
    path = saved or dataset.save_frame(frame, settings.frames_dir)
    fingerprint = dataset.fingerprint(frame)
    report("validate", f"fingerprint {fingerprint[:12]}, saved {path}; {_worst(missing)}")
    refs = [
        f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features
    ]
    registry = frames.registry_fingerprint(store, service)
    return Prepared(frame, schema, refs, missing, fingerprint, path, registry, seconds)


def _labels(settings: TrainingSettings, report: Report) -> pd.DataFrame:
    entities = load_entities(settings.flights_table)
    report(
        "labels",
        f"{len(entities)} flights at their prediction times, {entities[LABEL].mean():.1%} late",
    )
    return entities


def _build(
    settings: TrainingSettings,
    entities: pd.DataFrame,
    store: "FeatureStore",
    service: "FeatureService",
) -> pd.DataFrame:
    if entities.empty:
        raise DataError("no entity rows: the offline flights table is empty")
    frames.check_sources(store, service)
    return frames.historical_frame(store, service, entities, settings.frame_chunk_rows)


def _worst(missing: dict[str, float], top: int = 3) -> str:
    worst = sorted(missing.items(), key=lambda item: -item[1])[:top]
    return "most missing: " + ", ".join(f"{name} {share:.1%}" for name, share in worst)
