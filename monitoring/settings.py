"""The replay's settings, read from `LARDER_REPLAY_*` environment variables; each defaults to
the domain task's `Replay` declaration.

The replay trains on what is known before `start`, then walks to `end` one batch at a time:
every `batch_every` the data that became known since the last batch lands, goes through the
pipelines and is materialized; the examples due to be predicted before the next batch are
sent to the server. Every `period` the monitoring runs and the retrain policy decides.
"""

from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from larder import Replay, data_dir
from larder.domain import Domain, DomainError, load

ROOT = Path(__file__).resolve().parent.parent


class PolicySettings(BaseSettings):
    """When to retrain. A retrain is considered once per period, after the monitoring."""

    model_config = SettingsConfigDict(env_prefix="LARDER_POLICY_")

    # Realized ROC AUC below (Brier above) the champion's own served baseline (its first
    # judged period) by more than this: performance has fallen. The same margins tell a
    # worsened period when alarms are scored (monitoring.alarms).
    auc_drop: float = Field(default=0.03, ge=0)
    brier_rise: float = Field(default=0.01, ge=0)
    # The drift alarm: this share of the champion's importance drifted (or its scores did).
    drift_share: float = Field(default=0.25, gt=0, le=1)
    # Retrain anyway when the champion is this many periods old (0: never on a schedule).
    schedule_periods: int = Field(default=12, ge=0)
    # A floor: no retrain within this many periods of the last one, whatever the triggers say.
    cooldown_periods: int = Field(default=2, ge=0)
    min_labelled: int | None = Field(default=None, ge=1)  # None: the task's Replay.min_rows


class ReplaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LARDER_REPLAY_")

    feature_repo: Path = Field(  # the domain replayed
        default=ROOT / "feature_repo",
        validation_alias=AliasChoices(
            "feature_repo", "LARDER_REPLAY_FEATURE_REPO", "LARDER_FEATURE_REPO"
        ),
    )
    workdir: Path | None = None  # the replay's own platform; None: data/replay in the domain
    reports: Path | None = None  # None: data/reports/replay in the domain
    landing: Path | None = None  # the world's tables; None: the domain's sample data
    start: datetime | None = None  # None: the task's Replay, for these and the next four
    end: datetime | None = None
    batch_every: timedelta | None = None
    period: timedelta | None = None
    validation_start: datetime | None = None  # of the first champion
    test_start: datetime | None = None
    recent: timedelta | None = None  # a retrain at T validates from T - 2 recent
    tune_budget: int = Field(default=0, ge=0)  # 0: the default parameters, no search
    parity_sample: int = Field(default=100, ge=1)  # entities checked after each materialization
    skew_sample: int = Field(default=300, ge=1)  # logged predictions rebuilt offline per period
    reference_rows: int = Field(default=50_000, ge=100)  # training rows drift is measured from
    drift_min_rows: int | None = Field(default=None, ge=1)  # None: the task's Replay.min_rows
    batch_size: int = Field(default=100, ge=1)  # rows per /predict/batch call
    port: int = 8765
    policy: PolicySettings = Field(default_factory=PolicySettings)

    @field_validator("start", "end", "validation_start", "test_start")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @cached_property
    def domain(self) -> Domain:
        return load(self.feature_repo)

    @cached_property
    def clock(self) -> Replay:
        """The task's Replay with these settings' overrides, checked."""
        declared = self.domain.task.replay
        if declared is None:
            raise DomainError(
                f"task {self.domain.task.name!r} declares no Replay: give it one "
                "(larder.Replay: start, end, the first champion's split) to replay it"
            )
        given = {
            "start": self.start,
            "end": self.end,
            "batch_every": self.batch_every,
            "period": self.period,
            "first_validation_start": self.validation_start,
            "first_test_start": self.test_start,
            "recent": self.recent,
        }
        replay = Replay(**{**declared.__dict__, **{k: v for k, v in given.items() if v}})
        if not (
            replay.first_validation_start < replay.first_test_start < replay.start < replay.end
        ):
            raise ValueError("need validation_start < test_start < start < end")
        if replay.period < replay.batch_every:
            raise ValueError("period must be at least one batch_every")
        return replay

    @property
    def min_rows(self) -> int:
        return self.drift_min_rows or self.clock.min_rows

    @property
    def min_labelled(self) -> int:
        return self.policy.min_labelled or self.clock.min_rows

    @property
    def base(self) -> Path:
        return self.workdir or data_dir(self.feature_repo) / "replay"

    @property
    def report_dir(self) -> Path:
        return self.reports or data_dir(self.feature_repo) / "reports" / "replay"

    @property
    def replay_repo(self) -> Path:
        """The replay's copy of the domain folder (its data zones inside it)."""
        return self.base / "repo"

    @property
    def data_dir(self) -> Path:
        return data_dir(self.replay_repo)

    @property
    def landing_dir(self) -> Path:
        return self.base / "landing"

    @property
    def predictions(self) -> Path:
        return self.data_dir / "predictions"

    @property
    def journal(self) -> Path:
        """What the replay did, as it did it: batches, requests sent, decisions."""
        return self.base / "journal"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.data_dir / 'mlflow' / 'mlflow.db'}"

    def periods(self) -> list[tuple[datetime, datetime]]:
        return _steps(self.clock.start, self.clock.end, self.clock.period)

    def batches(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        return _steps(start, end, self.clock.batch_every)


def _steps(start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    """[start, end) cut every `step`: (from, to) pairs, the last one cut short at `end`."""
    edges, at = [], start
    while at < end:
        edges.append((at, min(at + step, end)))
        at += step
    return edges
