"""The retrain policy: given one period's evidence, retrain or not, and why, either way.

Triggers, each from evidence scored against what it claims:
- realized: the period's ROC AUC fell more than `auc_drop` below the champion's served
  baseline (its first judged period), or its Brier score rose more than `brier_rise` above it;
- drift: the period's drift alarm (monitoring.verdict: enough of what the champion relies on
  moved, or its scores did), which speaks before the labels do;
- schedule: the champion is old enough.
The cooldown is a floor only: no retrain within `cooldown_periods` of the last one; a trigger
held back by it is written down as such.
"""

from dataclasses import dataclass, field

from monitoring.settings import PolicySettings


@dataclass(frozen=True)
class Evidence:
    period: int  # 0-based index of the period just monitored
    auc: float | None  # realized this period (None: too few labelled examples)
    baseline_auc: float | None  # the champion's realized AUC in its first judged period
    drift_alarm: bool  # the period's drift verdict raised an alarm
    drift_reason: str  # what the verdict said
    champion_periods: int  # periods the champion has served
    since_retrain: int | None  # periods since the last retrain (None: never retrained)
    brier: float | None = None  # realized Brier score this period
    baseline_brier: float | None = None  # the champion's, in its first judged period


@dataclass(frozen=True)
class Decision:
    period: int
    retrain: bool
    triggers: list[str]
    reasons: list[str] = field(default_factory=list)


def triggers(e: Evidence, policy: PolicySettings) -> list[str]:
    found = []
    if (
        e.auc is not None
        and e.baseline_auc is not None
        and e.baseline_auc - e.auc > policy.auc_drop
    ):
        found.append(
            f"realized ROC AUC {e.auc:.4f} is {e.baseline_auc - e.auc:.4f} below the champion's "
            f"served baseline {e.baseline_auc:.4f} (margin {policy.auc_drop})"
        )
    if (
        e.brier is not None
        and e.baseline_brier is not None
        and e.brier - e.baseline_brier > policy.brier_rise
    ):
        found.append(
            f"realized Brier {e.brier:.4f} is {e.brier - e.baseline_brier:.4f} above the "
            f"champion's served baseline {e.baseline_brier:.4f} (margin {policy.brier_rise})"
        )
    if e.drift_alarm:
        found.append(f"drift {e.drift_reason}")
    if policy.schedule_periods and e.champion_periods >= policy.schedule_periods:
        found.append(
            f"the champion has served {e.champion_periods} periods "
            f"(schedule: every {policy.schedule_periods})"
        )
    return found


def decide(e: Evidence, policy: PolicySettings) -> Decision:
    fired = triggers(e, policy)
    if not fired:
        return Decision(e.period, False, [], ["no trigger: " + _quiet(e)])
    if e.since_retrain is not None and e.since_retrain < policy.cooldown_periods:
        held = (
            f"cooldown: the last retrain was {e.since_retrain} period(s) ago "
            f"(< {policy.cooldown_periods}); triggers noted, not acted on"
        )
        return Decision(e.period, False, fired, [held])
    return Decision(e.period, True, fired, ["retrain: " + "; ".join(fired)])


def _quiet(e: Evidence) -> str:
    auc = "not judged" if e.auc is None else f"{e.auc:.4f}"
    base = "none yet" if e.baseline_auc is None else f"{e.baseline_auc:.4f}"
    return (
        f"realized AUC {auc} (baseline {base}), drift {e.drift_reason}, "
        f"champion {e.champion_periods} period(s) old"
    )
