"""Training frames of a FeatureService for every fixture flight, through Feast's point-in-time
retrieval, for the tests that compare them with brute-force references."""

from pathlib import Path

import pandas as pd
import polars as pl

from pipelines import stages
from pipelines.settings import PipelineSettings
from tests.pipelines.feature_platform import feature_platform, source_frames
from training.examples import MISSING_KEY


def built_platform(base: Path) -> PipelineSettings:
    """The fixture's offline store, transformed and applied (nothing materialized)."""
    settings = feature_platform(base, source_frames())
    stages.transform(settings)
    stages.apply(settings)
    return settings


def service_frame(settings: PipelineSettings, service_name: str) -> pd.DataFrame:
    """The service's features for every fixture flight at its prediction time, in the order
    of the flight_outcomes table (`row`)."""
    from feast import FeatureStore

    flights = pl.read_parquet(settings.offline / "flight_outcomes.parquet").with_row_index("row")
    entities = flights.select(
        pl.col("row").cast(pl.Int64),
        pl.col("tailnum").fill_null(MISSING_KEY),
        "carrier",
        "origin",
        "dest",
        pl.col("prediction_time").alias("event_timestamp"),
        "scheduled_departure",
        "distance",
    ).to_pandas()
    store = FeatureStore(repo_path=str(settings.feature_repo))
    service = store.get_feature_service(service_name)
    got = store.get_historical_features(entity_df=entities, features=service).to_df()
    assert len(got) == len(entities)
    return got.sort_values("row").reset_index(drop=True)


def listed_views(settings: PipelineSettings, service_name: str) -> set[str]:
    """The views a service lists (not those only its on-demand views read)."""
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(settings.feature_repo))
    service = store.get_feature_service(service_name)
    return {p.name for p in service.feature_view_projections}


def plain(v):
    """A frame's value as Python's: None for a missing one (None, NA, NaN)."""
    return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
