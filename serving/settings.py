"""The prediction server's settings, read from `FLIGHTS_*` environment variables."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class ServingSettings(BaseSettings):
    """Which feature repo and which registered model to serve, and where to listen.

    The MLflow tracking URI is read from the standard `MLFLOW_TRACKING_URI` (so training and
    serving share one variable); unset, it is the SQLite store in the platform's data dir.
    """

    model_config = SettingsConfigDict(env_prefix="FLIGHTS_")

    feature_repo: Path = ROOT / "feature_repo"
    model_name: str = "flight_delay"
    model_alias: str = "champion"
    host: str = "127.0.0.1"
    port: int = 8000
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("mlflow_tracking_uri", "MLFLOW_TRACKING_URI")
    )

    @property
    def data_dir(self) -> Path:
        # Beside the feature repo, where `feature_store.yaml` puts the registry and online store.
        return self.feature_repo.resolve().parent / "data"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.data_dir / 'mlflow' / 'mlflow.db'}"
