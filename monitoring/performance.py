"""Realized performance: served probabilities against outcomes, once the outcomes are known.

An example's label is in the platform's offline examples table once it is known (the task's
`label_known_at`), never before; a prediction whose label is not known by the clock is counted
as pending.
"""

from datetime import datetime

import numpy as np
import polars as pl
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from larder import Task

CALIBRATION_BINS = 10
LABEL = "label"


def with_labels(
    served: pl.DataFrame, examples: pl.DataFrame, clock: datetime, task: Task
) -> pl.DataFrame:
    """`served` (the task's key, probability, ...) with `label`, null while it is unknown at
    clock."""
    known = examples.filter(pl.col(task.label_known_at) <= clock)
    labels = known.select(*task.key, pl.col(task.label).cast(pl.Int8).alias(LABEL))
    return served.join(labels, on=list(task.key), how="left", maintain_order="left")


def realized(frame: pl.DataFrame, min_labelled: int) -> dict:
    """ROC AUC, Brier, log loss and calibration of the labelled rows (AUC None when fewer than
    `min_labelled` or one outcome only)."""
    done = frame.filter(pl.col(LABEL).is_not_null() & pl.col("probability").is_not_null())
    y = done[LABEL].cast(pl.Int8).to_numpy()
    p = done["probability"].to_numpy()
    out = {
        "predictions": frame.height,
        "labelled": done.height,
        "pending": frame.height - done.height,
        "positive_rate": float(y.mean()) if len(y) else None,
        "mean_probability": float(p.mean()) if len(p) else None,
        "roc_auc": None,
        "brier": None,
        "log_loss": None,
        "calibration": calibration(p, y),
    }
    if len(y) >= min_labelled and len(np.unique(y)) == 2:
        out.update(
            roc_auc=float(roc_auc_score(y, p)),
            brier=float(brier_score_loss(y, p)),
            log_loss=float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6))),
        )
    return out


def calibration(p: np.ndarray, y: np.ndarray) -> list[dict]:
    """Per tenth of predicted probability: rows, mean predicted, observed positive rate."""
    rows = []
    for i in range(CALIBRATION_BINS):
        lo, hi = i / CALIBRATION_BINS, (i + 1) / CALIBRATION_BINS
        inside = (p >= lo) & ((p < hi) if i < CALIBRATION_BINS - 1 else (p <= hi))
        if inside.any():
            rows.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "rows": int(inside.sum()),
                    "predicted": float(p[inside].mean()),
                    "observed": float(y[inside].mean()),
                }
            )
    return rows
