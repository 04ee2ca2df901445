"""What training reads, how it splits time, tunes and promotes, and where MLflow keeps runs."""

import getpass
import socket
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from larder import Task, TimeSplit, data_dir
from larder.domain import Domain, load
from larder.state import mlflow_path

ROOT = Path(__file__).resolve().parent.parent


class TrainingSettings(BaseSettings):
    """Read from `LARDER_*` environment variables (MLflow's URI from `MLFLOW_TRACKING_URI`).

    The domain folder's task gives the defaults: its FeatureService, its name (the registered
    model's and the MLflow experiment's) and its time split; each can be overridden here.
    Rows are split by prediction time: train < validation_start <= validation < test_start
    <= test. Dates without a zone are UTC. Nothing here touches the disk: the MLflow folder is
    created when a run is logged.
    """

    model_config = SettingsConfigDict(env_prefix="LARDER_")

    feature_repo: Path = ROOT / "feature_repo"
    feature_service: str | None = None  # None: the task's
    model_name: str | None = None  # None: the task's name
    validation_start: datetime | None = None  # None: the task's split
    test_start: datetime | None = None
    seed: int = 42
    # Entity rows per get_historical_features call. The platform's as-of offline store does
    # a year in one pass; with stock Feast's DuckDB store (which holds every candidate row
    # inside the ttl) set it to a few thousand to bound memory.
    frame_chunk_rows: int = Field(default=400_000, gt=0)
    # Hyperparameter search: this many sampled candidates, each scored over `tune_folds`
    # expanding time-ordered folds of the training months (0 = the default parameters).
    tune_budget: int = Field(default=4, ge=0)
    tune_folds: int = Field(default=2, ge=2)
    bootstrap_samples: int = Field(default=200, ge=20)
    # Promotion: both models are scored on the latest `holdout_days` (default: the task's
    # holdout) of labelled examples
    # that neither saw; the challenger must beat the champion on the task's gate metric by
    # more than `min_gain` at the lower end of the paired bootstrap interval, within the
    # latency and size budgets.
    holdout_days: int | None = Field(default=None, gt=0)  # None: the task's holdout
    min_gain: float = Field(default=0.0, ge=0)
    latency_budget_ms: float = Field(default=50.0, gt=0)  # p95 of one-row predict_proba
    size_budget_mb: float = Field(default=50.0, gt=0)  # the model's MLflow artifacts
    actor: str = Field(default_factory=lambda: f"{getpass.getuser()}@{socket.gethostname()}")
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("mlflow_tracking_uri", "MLFLOW_TRACKING_URI")
    )

    @field_validator("validation_start", "test_start")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> "TrainingSettings":
        if self.validation_start and self.test_start and self.validation_start >= self.test_start:
            raise ValueError("validation_start must be before test_start")
        return self

    @cached_property
    def domain(self) -> Domain:
        return load(self.feature_repo)

    @property
    def task(self) -> Task:
        return self.domain.task

    @property
    def service(self) -> str:
        """The FeatureService trained on."""
        return self.feature_service or self.task.feature_service

    @property
    def model(self) -> str:
        """The registered model's name."""
        return self.model_name or self.task.name

    @property
    def experiment(self) -> str:
        return self.model

    @property
    def split(self) -> TimeSplit:
        """The task's split, with what these settings override (ValueError if out of order)."""
        return TimeSplit(
            self.validation_start or self.task.split.validation_start,
            self.test_start or self.task.split.test_start,
        )

    @property
    def holdout(self) -> timedelta:
        return timedelta(days=self.holdout_days) if self.holdout_days else self.task.holdout

    @property
    def data_dir(self) -> Path:
        # Inside the domain folder, where `feature_store.yaml` puts the registry and stores.
        return data_dir(self.feature_repo)

    @property
    def examples_table(self) -> Path:
        return self.data_dir / "offline" / f"{self.task.examples}.parquet"

    @property
    def frames_dir(self) -> Path:
        """Saved training frames, one Parquet file per content fingerprint."""
        return self.data_dir / "training" / "frames"

    @property
    def cards_dir(self) -> Path:
        return self.data_dir / "training" / "cards"

    @property
    def decisions_experiment(self) -> str:
        return f"{self.experiment}-decisions"

    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str | None:
        """Artifacts beside a SQLite store (MLflow would put them in the working directory's
        mlruns/); a tracking server keeps its own."""
        store = mlflow_path(self.tracking_uri)
        return None if store is None else (store.parent / "artifacts").as_uri()
