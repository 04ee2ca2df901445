"""The retrain policy: each trigger, the cooldown that holds triggers back, and the reasons."""

import pytest

from monitoring.policy import Evidence, decide
from monitoring.settings import PolicySettings

POLICY = PolicySettings(
    auc_drop=0.03, brier_rise=0.01, drift_share=0.3, schedule_periods=12, cooldown_periods=4
)
ALARM = "alarm: 40% of the champion's importance drifted (>= 30%: temp, dewp)"


def evidence(**changes) -> Evidence:
    quiet = dict(
        period=5, auc=0.70, baseline_auc=0.71, drift_alarm=False,
        drift_reason="no alarm: 0% of the champion's importance drifted", champion_periods=5,
        since_retrain=None, brier=0.16, baseline_brier=0.155,
    )  # fmt: skip
    return Evidence(**{**quiet, **changes})


def test_no_trigger_keeps_the_champion_and_says_why():
    decided = decide(evidence(), POLICY)
    assert not decided.retrain and not decided.triggers
    assert "realized AUC 0.7000 (baseline 0.7100)" in decided.reasons[0]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"auc": 0.67}, "below the champion's served baseline"),
        ({"brier": 0.17}, "realized Brier 0.1700 is 0.0150 above"),
        ({"drift_alarm": True, "drift_reason": ALARM}, "drift alarm: 40% of the champion's"),
        ({"champion_periods": 12}, "schedule: every 12"),
    ],
)
def test_each_trigger_retrains(changes, words):
    decided = decide(evidence(**changes), POLICY)
    assert decided.retrain
    assert words in decided.triggers[0] and decided.reasons[0].startswith("retrain: ")


def test_a_fall_within_the_margin_or_unjudged_is_no_trigger():
    assert not decide(evidence(auc=0.685), POLICY).retrain  # 0.025 < 0.03
    assert not decide(evidence(auc=None), POLICY).retrain
    assert not decide(evidence(baseline_auc=None, auc=0.5), POLICY).retrain
    assert not decide(evidence(brier=0.164), POLICY).retrain  # 0.009 < 0.01
    assert not decide(evidence(brier=None), POLICY).retrain


def test_cooldown_holds_back_a_trigger_until_it_has_passed():
    falling = {"auc": 0.60}
    held = [decide(evidence(since_retrain=n, **falling), POLICY) for n in range(4)]
    assert not any(d.retrain for d in held)
    assert all(d.triggers and d.reasons[0].startswith("cooldown: ") for d in held)
    assert decide(evidence(since_retrain=4, **falling), POLICY).retrain


def test_a_weekly_walk_retrains_at_most_once_per_cooldown():
    """A champion that keeps failing: retrains in periods 0, 4, 8 and no others."""
    retrains: list[int] = []
    for k in range(12):
        since = k - retrains[-1] if retrains else None
        if decide(evidence(period=k, auc=0.5, since_retrain=since), POLICY).retrain:
            retrains.append(k)
    assert retrains == [0, 4, 8]
