"""Scoring alarms against the periods that worsened: the recent level, the counts, and the
curve over thresholds, checked on hand-made periods."""

import pytest

from monitoring.alarms import best, curve, score, worsened


def period(auc, brier):
    return {"roc_auc": auc, "brier": brier}


def test_a_period_worsens_against_the_median_of_the_judged_periods_before_it():
    realized = [
        period(0.80, 0.15),  # nothing before it: not scored
        period(0.76, 0.15),  # 0.04 below 0.80
        period(None, None),  # not judged
        period(0.77, 0.15),  # median(0.80, 0.76) = 0.78: 0.01 below, within 0.03
        period(0.77, 0.17),  # Brier 0.02 above the median 0.15
        period(0.79, 0.155),  # window 3: median(0.76, 0.77, 0.77) = 0.77; Brier median 0.15
    ]
    assert worsened(realized, 3, 0.03, 0.01) == [None, True, None, False, True, False]


def test_counts_precision_and_recall():
    alarms = [True, True, False, False, True, False]
    truth = [True, False, True, False, None, None]
    found = score(alarms, truth)
    assert found == {
        "scored_periods": 4, "alarmed_periods": 3, "worsened_periods": 2, "true_alarms": 1,
        "false_alarms": 1, "missed": 1, "precision": 0.5, "recall": 0.5,
    }  # fmt: skip
    assert score([False, False], [False, True])["precision"] is None


def test_the_curve_and_its_best_point():
    weighted = [0.0, 0.5, 0.2, 0.6]
    drifted = [True, False, False, False]
    truth = [False, True, False, True]
    rows = curve(weighted, drifted, truth)
    at = {(r["share"], r["with_predictions"]): r for r in rows}
    assert at[(0.5, False)]["precision"] == 1.0 and at[(0.5, False)]["recall"] == 1.0
    assert at[(0.5, True)]["false_alarms"] == 1
    assert at[(0.0, False)]["alarmed_periods"] == 4
    top = best(rows)
    assert top is not None and top["precision"] == pytest.approx(1.0)
    assert top["recall"] == 1.0 and not top["with_predictions"]
