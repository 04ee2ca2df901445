"""Alarms scored against what happened: was each period's drift alarm followed by worse
realized performance in that period, and was each worsening alarmed?

A period *worsened* when its realized ROC AUC fell more than `auc_drop` below, or its Brier
score rose more than `brier_rise` above, the median of the `window` judged periods before it
(whatever model served them): performance fell from its recent level. A period without
realized metrics, or with no judged period before it, is not scored.

Over the scored periods: true alarms (alarm, worsened), false alarms (alarm, not worsened),
missed (no alarm, worsened); precision = true / (true + false), recall = true / (true + missed).
"""

from collections.abc import Sequence
from statistics import median

SHARES = tuple(round(0.05 * k, 2) for k in range(0, 21))  # the curve's thresholds on `weighted`


def worsened(
    realized: Sequence[dict], window: int, auc_drop: float, brier_rise: float
) -> list[bool | None]:
    out: list[bool | None] = []
    history: list[tuple[float, float]] = []
    for r in realized:
        auc, brier = r.get("roc_auc"), r.get("brier")
        if auc is None or brier is None:
            out.append(None)
            continue
        recent = history[-window:]
        if recent:
            level_auc = median(a for a, _ in recent)
            level_brier = median(b for _, b in recent)
            out.append(auc < level_auc - auc_drop or brier > level_brier + brier_rise)
        else:
            out.append(None)
        history.append((auc, brier))
    return out


def score(alarms: Sequence[bool], truth: Sequence[bool | None]) -> dict:
    pairs = [(a, t) for a, t in zip(alarms, truth, strict=True) if t is not None]
    true = sum(a and t for a, t in pairs)
    false = sum(a and not t for a, t in pairs)
    missed = sum(t and not a for a, t in pairs)
    return {
        "scored_periods": len(pairs),
        "alarmed_periods": sum(alarms),
        "worsened_periods": sum(t for _, t in pairs),
        "true_alarms": true,
        "false_alarms": false,
        "missed": missed,
        "precision": true / (true + false) if true + false else None,
        "recall": true / (true + missed) if true + missed else None,
    }


def curve(
    weighted: Sequence[float], predictions_drifted: Sequence[bool], truth: Sequence[bool | None]
) -> list[dict]:
    """Precision and recall over thresholds on the weighted share, with and without the
    probabilities' own drift as a second way to alarm."""
    rows = []
    for share in SHARES:
        for with_predictions in (True, False):
            alarms = [
                w >= share or (with_predictions and p)
                for w, p in zip(weighted, predictions_drifted, strict=True)
            ]
            rows.append({"share": share, "with_predictions": with_predictions,
                         **score(alarms, truth)})  # fmt: skip
    return rows


def best(rows: Sequence[dict]) -> dict | None:
    """The operating point with the highest F1 (ties: fewer alarms)."""

    def f1(r: dict) -> float:
        p, q = r["precision"], r["recall"]
        return 2 * p * q / (p + q) if p and q else 0.0

    return max(rows, key=lambda r: (f1(r), -r["alarmed_periods"])) if rows else None
