"""Where the pipeline stages read and write, and their thresholds: one settings object, read
from `LARDER_*` environment variables."""

from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from larder import data_dir
from larder.domain import Domain, load

ROOT = Path(__file__).resolve().parent.parent


class PipelineSettings(BaseSettings):
    """The domain folder (`LARDER_FEATURE_REPO`, default `feature_repo/`) and
    the thresholds. The data zones are the `data/` folder inside the domain folder, where its
    `feature_store.yaml` puts Feast's registry and online store."""

    model_config = SettingsConfigDict(env_prefix="LARDER_")

    feature_repo: Path = ROOT / "feature_repo"
    landing: Path | None = None  # None: the domain's sample data
    max_bad_share: float = 0.05  # a batch with more bad rows than this is rejected whole
    parity_sample: int = 300  # entities per key set compared online against offline

    @cached_property
    def domain(self) -> Domain:
        return load(self.feature_repo)

    @property
    def data_dir(self) -> Path:
        return data_dir(self.feature_repo)

    @property
    def raw(self) -> Path:
        return self.data_dir / "raw"

    @property
    def validated(self) -> Path:
        return self.data_dir / "validated"

    @property
    def quarantine(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def reports(self) -> Path:
        return self.data_dir / "reports"

    @property
    def offline(self) -> Path:
        return self.data_dir / "offline"

    @property
    def sample_landing(self) -> Path:
        """Where the domain's sample data is laid out to be ingested."""
        return self.data_dir / "landing" / "sample"
