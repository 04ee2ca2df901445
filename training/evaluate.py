"""Scores with bootstrap intervals, paired comparisons, and the plots a run keeps.

Every random draw takes an explicit seed, so the same predictions give the same numbers.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

from larder.task import HIGHER_IS_BETTER

CI_LEVEL = 0.95
CALIBRATION_BINS = 10  # equal-count bins, for the reliability diagram and its error


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: over `bins` bins of equal count by predicted probability,
    the count-weighted mean of |observed share positive - mean predicted probability|."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    order = np.argsort(p, kind="stable")
    gaps = [
        len(part) * abs(y[part].mean() - p[part].mean())
        for part in np.array_split(order, bins)
        if len(part)
    ]
    return float(sum(gaps) / len(y))


def scores(prefix: str, y: np.ndarray, p: np.ndarray, seed: int, samples: int) -> dict[str, float]:
    """ROC AUC (with a bootstrap interval), PR AUC, log loss, Brier score and expected
    calibration error."""
    y, p = np.asarray(y), np.asarray(p, dtype="float64")
    low, high = auc_interval(y, p, seed, samples)
    return {
        f"{prefix}_roc_auc": float(roc_auc_score(y, p)),
        f"{prefix}_roc_auc_ci_low": low,
        f"{prefix}_roc_auc_ci_high": high,
        f"{prefix}_pr_auc": float(average_precision_score(y, p)),
        f"{prefix}_log_loss": float(log_loss(y, p, labels=[0, 1])),
        f"{prefix}_brier": float(brier_score_loss(y, p)),
        f"{prefix}_ece": calibration_error(y, p),
    }


def resamples(n: int, seed: int, samples: int) -> np.ndarray:
    """`samples` bootstrap draws of row indices, shape (samples, n)."""
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


METRICS = {
    "roc_auc": roc_auc_score,
    "pr_auc": average_precision_score,
    "log_loss": lambda y, p: log_loss(y, p, labels=[0, 1]),
    "brier": brier_score_loss,
    "ece": calibration_error,
}


def _draws(y: np.ndarray, ps: list[np.ndarray], metric: str, seed: int, samples: int) -> np.ndarray:
    """The metric of each prediction vector on each resample; draws with one class skipped."""
    score, rows = METRICS[metric], []
    for idx in resamples(len(y), seed, samples):
        if y[idx].min() == y[idx].max():
            continue
        rows.append([score(y[idx], p[idx]) for p in ps])
    return np.array(rows).reshape(-1, len(ps))


def _interval(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def interval(
    y: np.ndarray, p: np.ndarray, metric: str, seed: int, samples: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric` over resampled rows."""
    return _interval(_draws(np.asarray(y), [np.asarray(p)], metric, seed, samples)[:, 0])


def auc_interval(y: np.ndarray, p: np.ndarray, seed: int, samples: int) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC AUC over resampled rows."""
    return _interval(_draws(np.asarray(y), [np.asarray(p)], "roc_auc", seed, samples)[:, 0])


def paired_gain(
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    metric: str,
    seed: int,
    samples: int,
) -> dict[str, float]:
    """How much better the challenger scores than the champion on the same rows (for a loss,
    the champion's minus the challenger's), with a paired bootstrap interval.

    Paired: both models are scored on the same resample each time, so the noise they share
    (which examples happened to be in the period) cancels out of the difference.
    """
    y = np.asarray(y)
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    both = _draws(y, [np.asarray(challenger), np.asarray(champion)], metric, seed, samples)
    low, high = sorted(sign * v for v in _interval(both[:, 0] - both[:, 1]))
    score = METRICS[metric]
    gain = sign * float(score(y, challenger) - score(y, champion))
    return {"gain": gain, "gain_ci_low": low, "gain_ci_high": high}


def save_plots(
    folder: Path,
    y: np.ndarray,
    predictions: dict[str, np.ndarray],
    importance: pd.Series,
) -> list[Path]:
    """roc.png, calibration.png and feature_importance.png in `folder`."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    folder.mkdir(parents=True, exist_ok=True)
    return [
        _roc_plot(folder / "roc.png", y, predictions),
        _calibration_plot(folder / "calibration.png", y, predictions),
        _importance_plot(folder / "feature_importance.png", importance),
    ]


def _roc_plot(path: Path, y: np.ndarray, predictions: dict[str, np.ndarray]) -> Path:
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in predictions.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test period")
    ax.legend(loc="lower right")
    return _save(fig, path)


def _calibration_plot(path: Path, y: np.ndarray, predictions: dict[str, np.ndarray]) -> Path:
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in predictions.items():
        observed, predicted = calibration_curve(y, p, n_bins=CALIBRATION_BINS, strategy="quantile")
        ece = calibration_error(y, p)
        ax.plot(predicted, observed, marker="o", label=f"{name} (ECE {ece:.4f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(
        xlabel="predicted probability", ylabel="observed share positive", title="Calibration, test"
    )
    ax.legend(loc="upper left")
    return _save(fig, path)


def _importance_plot(path: Path, importance: pd.Series) -> Path:
    import matplotlib.pyplot as plt

    ordered = importance.sort_values()
    fig, ax = plt.subplots(figsize=(6, max(3, 0.25 * len(ordered))))
    ax.barh(ordered.index, ordered.to_numpy())
    ax.set(xlabel="drop in test ROC AUC when shuffled", title="Permutation importance")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
