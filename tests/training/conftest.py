"""Training fixtures on the shared platform: its week of January 2013, split by day."""

import pandas as pd
import pytest

from pipelines.settings import PipelineSettings
from training.frames import build_training_frame, feature_schema
from training.labels import load_entities
from training.settings import TrainingSettings
from training.train import TrainingResult, train


def week_settings(platform: PipelineSettings, **overrides: object) -> TrainingSettings:
    """Train Jan 1-4, validate Jan 5, test Jan 6-7; MLflow in the platform's data dir; a
    small tuning budget and fewer bootstrap draws, so that tests stay fast."""
    values: dict[str, object] = {
        "feature_repo": platform.feature_repo,
        "validation_start": "2013-01-05",
        "test_start": "2013-01-06",
        "tune_budget": 2,
        "tune_folds": 2,
        "bootstrap_samples": 50,
        "mlflow_tracking_uri": None,  # never a tracking server from the caller's environment
        **overrides,
    }
    return TrainingSettings(**values)


@pytest.fixture(scope="session")
def settings(platform: PipelineSettings) -> TrainingSettings:
    return week_settings(platform)


@pytest.fixture(scope="session")
def entities(settings: TrainingSettings) -> pd.DataFrame:
    return load_entities(settings.flights_table)


@pytest.fixture(scope="session")
def schema(settings: TrainingSettings) -> dict[str, str]:
    return feature_schema(settings)


@pytest.fixture(scope="session")
def frame(settings: TrainingSettings, entities: pd.DataFrame) -> pd.DataFrame:
    return build_training_frame(settings, entities)


@pytest.fixture(scope="session")
def trained(settings: TrainingSettings) -> TrainingResult:
    """One full training run: frame, fit, MLflow run, registered challenger and (first model)
    champion."""
    return train(settings)
