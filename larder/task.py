"""The prediction task: which examples, which label and when it is known, which features, how
time is split, what the model is compared with, and what the answer is called.

An example is one row of the offline table `examples` (a derivation's output): the entity's
join keys, the request fields of the FeatureService, `time`, the `label` (0 or 1) and the
moment the label became known (`label_known_at`). A prediction is made at `time - lead`:
features are looked up then, for training as for serving (`/predict` takes `time` and
computes the same moment).

The split is by prediction time: train < validation_start <= validation < test_start <= test,
and a row only trains (or calibrates) on a label known before the next part starts, so no
label from the validation period is ever learnt from.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")
HIGHER_IS_BETTER = {
    "roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False, "ece": False,
}  # fmt: skip


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class TimeSplit:
    validation_start: datetime
    test_start: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "validation_start", _utc(self.validation_start))
        object.__setattr__(self, "test_start", _utc(self.test_start))
        if self.validation_start >= self.test_start:
            raise ValueError("TimeSplit: validation_start must be before test_start")


@dataclass(frozen=True)
class RateBy:
    """Baseline: the label's rate per value of `column` over the training rows (the overall
    rate for a value training never saw)."""

    column: str


@dataclass(frozen=True)
class GradientBoosting:
    """LightGBM's gradient-boosted trees (categorical features split natively), sigmoid-calibrated
    on the validation months; `space` is sampled by time-fold tuning, `defaults` are used without
    a budget. Names are LightGBM's parameters."""

    defaults: Mapping[str, Any] = field(
        default_factory=lambda: {
            "learning_rate": 0.05,
            "n_estimators": 200,
            "num_leaves": 31,
            "min_child_samples": 50,
            "reg_lambda": 1.0,
        }
    )
    space: Mapping[str, list[Any]] = field(
        default_factory=lambda: {
            "learning_rate": [0.03, 0.05, 0.1],
            "n_estimators": [100, 200, 400],
            "num_leaves": [15, 31, 63],
            "min_child_samples": [20, 50, 100, 200],
            "reg_lambda": [0.0, 1.0, 10.0],
        }
    )
    # Fixed for every candidate (no early stopping: it needs a slice of the future to stop on)
    fixed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Replay:
    """The monitoring replay's clock: the first champion is trained on what was known before
    `start`, then the platform walks to `end`, a batch every `batch_every`, monitoring every
    `period`. A retrain at clock T validates from T - 2 * recent and tests from T - recent."""

    start: datetime
    end: datetime
    first_validation_start: datetime
    first_test_start: datetime
    batch_every: timedelta = timedelta(days=1)
    period: timedelta = timedelta(days=7)
    recent: timedelta = timedelta(days=28)
    push_every: timedelta = timedelta(hours=1)  # rows of push-fed views are pushed this often
    min_rows: int = 500  # fewer labelled (or served) rows in a period: AUC (or drift) not judged

    def __post_init__(self) -> None:
        for name in ("start", "end", "first_validation_start", "first_test_start"):
            object.__setattr__(self, name, _utc(getattr(self, name)))


REFERENCES = ("training", "recent", "same_weeks")


@dataclass(frozen=True)
class Seasonality:
    """What drift is judged against, for a domain whose data moves with the calendar.

    - `calendar`: features that are calendar functions of the prediction time (month, weekday,
      hour). Their distribution in a week is set by the week, so they are reported as
      calendar shift, never judged as drift.
    - `reference`: "training" compares each period with the champion's training rows (right
      when nothing is seasonal); "recent" with what was served in the last `periods` periods
      (the champion's last `periods` of training rows until it has served that long: a
      season moves slowly, a week against its recent weeks does not); "same_weeks" with the
      training rows within `window` of the period's days of the year, in any year (for data
      with several years of history).
    """

    calendar: tuple[str, ...] = ()
    reference: str = "training"
    periods: int = 4
    window: timedelta = timedelta(days=28)

    def __post_init__(self) -> None:
        if self.reference not in REFERENCES:
            raise ValueError(
                f"Seasonality: reference must be one of {REFERENCES}, got {self.reference!r}"
            )
        if self.periods < 1:
            raise ValueError(f"Seasonality: periods must be at least 1, got {self.periods}")
        if self.window <= timedelta(0):
            raise ValueError("Seasonality: window must be positive")


@dataclass(frozen=True)
class Task:
    name: str  # the registered model's name and the MLflow experiment
    examples: str  # a derivation whose output holds one row per example
    key: tuple[str, ...]  # identifies an example
    time: str  # a UTC timestamp column of the examples and a field of every request
    label: str
    label_known_at: str
    feature_service: str
    split: TimeSplit
    baseline: RateBy
    description: str  # what the probability is of, e.g. "P(arrival > 15 min late)"
    lead: timedelta = timedelta(0)  # predictions are made at `time - lead`
    model: GradientBoosting = field(default_factory=GradientBoosting)
    gate_metric: str = "roc_auc"
    answer: str = "probability"  # the response field holding the probability
    # The promotion gate's held-out period: the latest `holdout` of labelled examples (long
    # enough to hold both outcomes: a season for seasonal data).
    holdout: timedelta = timedelta(days=30)
    replay: Replay | None = None
    limits: tuple[str, ...] = ()  # what the model card says it has not seen
    # Entity keys (or request fields) the model also reads, as categories: their values are the
    # categories the model knows, encoded inside the logged model. String features always are.
    categorical: tuple[str, ...] = ()
    seasonality: Seasonality = field(default_factory=Seasonality)  # what drift is judged against

    def __post_init__(self) -> None:
        if self.gate_metric not in METRICS:
            raise ValueError(f"task {self.name!r}: gate_metric must be one of {METRICS}")
        if not self.answer.isidentifier():
            raise ValueError(f"task {self.name!r}: answer {self.answer!r} is not a field name")
