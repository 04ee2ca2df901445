"""The first stage of a run: labelled examples -> a validated, fingerprinted, saved frame.

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
    keys: tuple[str, ...] = ()  # the task's entity keys the model also reads, as categories

    @property
    def names(self) -> list[str]:
        return list(self.schema)

    @property
    def inputs(self) -> list[str]:
        """The model's columns: the service's features, then the categorical keys."""
        return [*self.schema, *self.keys]


def prepare(
    settings: TrainingSettings,
    report: Report = silent,
    saved: Path | None = None,
    store: "FeatureStore | None" = None,
) -> Prepared:
    # examples first: a platform without an offline store should hear that, not "no registry"
    examples = None if saved else _examples(settings, report)
    store = store or frames.open_store(settings.feature_repo)
    service = frames.get_service(store, settings.service)
    start = time.perf_counter()
    frame = dataset.load_frame(saved) if saved else _build(settings, examples, store, service)
    seconds = 0.0 if saved else time.perf_counter() - start
    schema = frames.service_schema(service)
    missing = dataset.validate_frame(frame, schema)
    # a service without one of the task's categorical keys (an older, narrower one) is read
    # without it; the frame line says so
    declared = [k for k in settings.task.categorical if k not in schema]
    keys = tuple(k for k in declared if k in frame.columns)
    absent = [k for k in declared if k not in keys]
    report(
        "frame",
        f"{len(frame)} rows x {len(schema)} features of {settings.service}"
        + (f" from {saved}" if saved else " through Feast, leakage guard passed")
        + (f"; categorical keys: {', '.join(keys)}" if keys else "")
        + (f" ({', '.join(absent)} not in this service)" if absent else ""),
    )
    path = saved or dataset.save_frame(frame, settings.frames_dir)
    fingerprint = dataset.fingerprint(frame)
    report("validate", f"fingerprint {fingerprint[:12]}, saved {path}; {_worst(missing)}")
    refs = [
        f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features
    ]
    registry = frames.registry_fingerprint(store, service)
    return Prepared(frame, schema, refs, missing, fingerprint, path, registry, seconds, keys)


def _examples(settings: TrainingSettings, report: Report) -> pd.DataFrame:
    examples = frames.load_examples(settings)
    task = settings.task
    positive = examples[task.label].astype("int64").mean() if len(examples) else 0.0
    report(
        "examples",
        f"{len(examples)} examples of {task.name} ({task.examples}), {positive:.1%} positive",
    )
    return examples


def _build(
    settings: TrainingSettings,
    examples: pd.DataFrame | None,
    store: "FeatureStore",
    service: "FeatureService",
) -> pd.DataFrame:
    if examples is None or examples.empty:
        raise DataError(f"no examples: the offline table {settings.examples_table} is empty")
    frames.check_sources(store, service)
    entities = frames.entities_for(store, service, examples, settings.task)
    return frames.historical_frame(
        store, service, entities, settings.frame_chunk_rows, settings.task
    )


def _worst(missing: dict[str, float], top: int = 3) -> str:
    worst = sorted(missing.items(), key=lambda item: -item[1])[:top]
    return "most missing: " + ", ".join(f"{name} {share:.1%}" for name, share in worst)
