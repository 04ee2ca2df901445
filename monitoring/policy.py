"""The retrain policy: given one period's evidence, retrain or not, and why, either way.

Triggers: realized ROC AUC fell below the champion's served baseline by more than a margin;
enough of the champion's most important features drifted; the champion is old enough for the
schedule. A cooldown after each retrain holds back the next one, so one bad period does not
retrain every period; a trigger held back by the cooldown is written down as such.
"""

from dataclasses import dataclass, field

from monitoring.settings import PolicySettings


@dataclass(frozen=True)
class Evidence:
    period: int  # 0-based index of the period just monitored
    auc: float | None  # realized this period (None: too few labelled examples)
    baseline_auc: float | None  # the champion's realized AUC in its first judged period
    drifted_important: list[str]  # the champion's important features that drifted
    champion_periods: int  # periods the champion has served
    since_retrain: int | None  # periods since the last retrain (None: never retrained)


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
    if len(e.drifted_important) >= policy.drifted_features:
        found.append(
            f"{len(e.drifted_important)} of the champion's {policy.important_features} most "
            f"important features drifted ({', '.join(e.drifted_important)}; "
            f"threshold {policy.drifted_features})"
        )
    if policy.schedule_periods and e.champion_periods >= policy.schedule_periods:
        found.append(
            f"the champion has served {e.champion_periods} periods "
            f"(schedule: every {policy.schedule_periods})"
        )
    return found


def decide(e: Evidence, policy: PolicySettings) -> Decision:
    fired = triggers(e, policy)
    if not fired:
        return Decision(e.period, False, [], ["no trigger: " + _quiet(e, policy)])
    if e.since_retrain is not None and e.since_retrain < policy.cooldown_periods:
        held = (
            f"cooldown: the last retrain was {e.since_retrain} period(s) ago "
            f"(< {policy.cooldown_periods}); triggers noted, not acted on"
        )
        return Decision(e.period, False, fired, [held])
    return Decision(e.period, True, fired, ["retrain: " + "; ".join(fired)])


def _quiet(e: Evidence, policy: PolicySettings) -> str:
    auc = "not judged" if e.auc is None else f"{e.auc:.4f}"
    base = "none yet" if e.baseline_auc is None else f"{e.baseline_auc:.4f}"
    return (
        f"realized AUC {auc} (baseline {base}), {len(e.drifted_important)} important feature(s) "
        f"drifted (< {policy.drifted_features}), champion {e.champion_periods} period(s) old"
    )
