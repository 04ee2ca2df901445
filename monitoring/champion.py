"""What monitoring needs to know about the champion: its features, its training reference, its
most important features, and what it predicts on its own reference."""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from training import promote, registry
from training.errors import RegistryError
from training.examples import TIMESTAMP
from training.settings import TrainingSettings


@dataclass
class Champion:
    version: str
    service: str
    names: list[str]
    importance: dict[str, float]
    test_auc: float | None  # ROC AUC on its test months, offline features (training time)
    reference: pl.DataFrame  # a sample of its training frame's features
    reference_probability: pl.Series  # its predictions on that sample
    reference_time: pl.Series  # each sample row's prediction time (UTC)
    since_period: int  # the first period it served
    baseline_auc: float | None = None  # realized AUC in its first judged period
    baseline_brier: float | None = None  # realized Brier in that period

    def important(self, top: int) -> list[str]:
        ranked = sorted(self.importance, key=lambda n: self.importance[n], reverse=True)
        return ranked[:top]


def load(settings: TrainingSettings, since_period: int, rows: int, seed: int = 0) -> Champion:
    """The version at @champion now, with a sample of its training frame as the reference."""
    client = registry.client(settings)
    found = registry.version_by_alias(client, settings.model, registry.CHAMPION)
    if found is None:
        raise RegistryError(
            f"no {settings.model}@{registry.CHAMPION} to monitor: train one "
            "(`python -m training train`)"
        )
    run = client.get_run(found.run_id)
    version = promote.load_version(client, settings.model, str(found.version))
    names = version.contract.numeric_names  # drift compares numbers; categories are the model's
    frame = pd.read_parquet(run.data.params["frame_path"])
    sample = frame.sample(min(rows, len(frame)), random_state=seed).reset_index(drop=True)
    probability = version.predict(sample)
    return Champion(
        version=version.number,
        service=version.service,
        names=names,
        importance=_importance(client, found.run_id),
        test_auc=run.data.metrics.get("test_roc_auc"),
        reference=pl.from_pandas(sample[names].astype("float64"), nan_to_null=True),
        reference_probability=pl.Series("probability", np.asarray(probability, dtype="float64")),
        reference_time=pl.Series("time", pd.to_datetime(sample[TIMESTAMP], utc=True)),
        since_period=since_period,
    )


def _importance(client, run_id: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = client.download_artifacts(run_id, "feature_importance.json", folder)
        return json.loads(Path(path).read_text())
