"""The prediction server's settings, read from `LARDER_*` environment variables."""

from datetime import datetime
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from larder import Task, data_dir
from larder.domain import load

ROOT = Path(__file__).resolve().parent.parent


class ServingSettings(BaseSettings):
    """Which domain folder and which registered model to serve, where to listen, the limits.

    The model defaults to the domain task's (its name, alias `champion`). The MLflow tracking
    URI is read from the standard `MLFLOW_TRACKING_URI` (so training and serving share one
    variable); unset, it is the SQLite store in the domain's data folder. Tokens: without
    `LARDER_ADMIN_TOKEN` the write and admin endpoints are disabled (403), not open; with
    `LARDER_READ_TOKEN` the read endpoints require it too.
    """

    model_config = SettingsConfigDict(env_prefix="LARDER_")

    feature_repo: Path = ROOT / "feature_repo"
    model_name: str | None = None  # None: the task's name
    model_alias: str = "champion"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("mlflow_tracking_uri", "MLFLOW_TRACKING_URI")
    )
    # Reference time for ttl checks when a read names none; unset is the wall clock. A replay
    # of past data sets it to the data's watermark.
    as_of: datetime | None = None
    admin_token: SecretStr | None = None
    read_token: SecretStr | None = None
    max_body_bytes: int = 1_000_000
    max_entities: int = 1000
    max_batch: int = 100
    request_timeout_s: float = 5.0
    reload_interval_s: float = 30.0  # 0 disables polling; POST /admin/reload still works
    # /ready runs SQLite's quick_check on the online store when its last one is this old.
    integrity_check_s: float = 30.0
    model_threads: int = 1  # OpenMP threads per worker: more only slows one-row predictions
    log_dir: Path | None = None  # None: the data folder's predictions zone
    log_batch_rows: int = 1000
    log_flush_s: float = 5.0

    @cached_property
    def task(self) -> Task:
        return load(self.feature_repo).task

    @property
    def model(self) -> str:
        return self.model_name or self.task.name

    @property
    def data_dir(self) -> Path:
        # Inside the domain folder, where `feature_store.yaml` puts the registry and online store.
        return data_dir(self.feature_repo)

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.data_dir / 'mlflow' / 'mlflow.db'}"

    @property
    def prediction_log(self) -> Path:
        return self.log_dir or self.data_dir / "predictions"
