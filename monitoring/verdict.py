"""A period's drift verdict for the champion: which of its features moved, how much of what it
relies on that is, and how far its scores are expected to move.

- Calendar features (the task's `Seasonality.calendar`) move with the week by construction:
  they are reported as calendar shift and take no part in the verdict.
- Every other feature is judged (monitoring.drift: effect sizes and a test) at the floors of
  `JUDGED`: all three effect sizes (PSI 0.25, the "major shift" of credit scoring; JS 0.2;
  Wasserstein 0.25 reference standard deviations) must agree. Lower floors flag most features
  of an operational stream every week: a week of conditions or of group rates is never the
  week before, and a shift of a tenth of a standard deviation is not one a model feels.
  Each drifted feature is weighted by its
  importance to the champion (the drop in test ROC AUC when it is shuffled, computed at
  training; negative importances count as 0). `weighted` is the share of the importance of
  the judged features that drifted: a shift in a feature the model hardly reads weighs little.
- The model-level part: the champion's probabilities this period against those on the
  reference (their drift verdict), the shift of the mean probability, and the expected Brier
  shift, E[p(1 - p)] now minus on the reference: how a calibrated model's Brier score moves
  with the scores alone, before any label arrives.

The alarm: `weighted` reaches `share`. The probabilities' drift is reported beside it, not
alarmed on: scores that move with the population (a busier season, more late hours) say
the inputs changed, not that the model reads them wrongly; the replay scores both ways
(monitoring.alarms).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from monitoring.drift import DriftThresholds, FeatureDrift

JUDGED = DriftThresholds(psi=0.25, js=0.2, wasserstein=0.25, votes=3)


@dataclass(frozen=True)
class Verdict:
    judged: list[str]  # features judged for drift (not calendar, enough rows)
    drifted: list[str]  # of those, the ones that drifted, most important first
    calendar_shift: list[str]  # calendar features whose distribution moved (not judged)
    weighted: float  # share of the judged features' importance that drifted
    predictions_drifted: bool
    mean_shift: float | None  # mean probability now minus on the reference
    expected_brier_shift: float | None  # E[p(1-p)] now minus on the reference
    alarm: bool
    reason: str


def verdict(
    features: Sequence[FeatureDrift],
    predictions: FeatureDrift,
    importance: Mapping[str, float],
    calendar: Sequence[str],
    reference_probability: pl.Series,
    probability: pl.Series,
    share: float,
) -> Verdict:
    calendar_set = set(calendar)
    judged = [d for d in features if d.feature not in calendar_set and d.psi is not None]
    weight = {d.feature: max(float(importance.get(d.feature, 0.0)), 0.0) for d in judged}
    total = sum(weight.values())
    drifted = sorted((d.feature for d in judged if d.drifted), key=lambda n: -weight[n])
    weighted = sum(weight[n] for n in drifted) / total if total > 0 else 0.0
    moved = [d.feature for d in features if d.feature in calendar_set and d.drifted]
    mean_shift, brier_shift = _score_shift(reference_probability, probability)
    alarm = weighted >= share
    return Verdict(
        judged=[d.feature for d in judged],
        drifted=drifted,
        calendar_shift=moved,
        weighted=weighted,
        predictions_drifted=predictions.drifted,
        mean_shift=mean_shift,
        expected_brier_shift=brier_shift,
        alarm=alarm,
        reason=_reason(alarm, weighted, share, drifted, predictions, mean_shift),
    )


def _score_shift(reference: pl.Series, current: pl.Series) -> tuple[float | None, float | None]:
    r, c = (s.drop_nulls().drop_nans().to_numpy() for s in (reference, current))
    if not len(r) or not len(c):
        return None, None
    return float(c.mean() - r.mean()), float(np.mean(c * (1 - c)) - np.mean(r * (1 - r)))


def _reason(
    alarm: bool,
    weighted: float,
    share: float,
    drifted: list[str],
    predictions: FeatureDrift,
    mean_shift: float | None,
) -> str:
    names = ", ".join(drifted[:5]) + (", ..." if len(drifted) > 5 else "")
    parts = [
        f"{weighted:.0%} of the champion's importance drifted "
        f"({'>=' if weighted >= share else '<'} {share:.0%}" + (f": {names})" if drifted else ")"),
        f"its probabilities {'drifted' if predictions.drifted else 'did not drift'}"
        + (f" (mean {mean_shift:+.3f})" if mean_shift is not None else ""),
    ]
    return f"{'alarm' if alarm else 'no alarm'}: {'; '.join(parts)}"
