"""Training fixtures on each domain's shared platform, split by its slice's time split; a small
tuning budget and few bootstrap draws, so that tests stay fast."""

import pandas as pd
import pytest

from pipelines.settings import PipelineSettings
from tests.conftest import SLICES
from training.frames import (
    build_training_frame,
    entities_for,
    feature_schema,
    get_service,
    load_examples,
    open_store,
)
from training.settings import TrainingSettings
from training.train import TrainingResult, train


def slice_settings(platform: PipelineSettings, **overrides: object) -> TrainingSettings:
    """The slice's split; MLflow in the platform's data dir; a small budget."""
    found = next(s for s in SLICES.values() if s.repo.name == platform.feature_repo.name)
    values: dict[str, object] = {
        "feature_repo": platform.feature_repo,
        "validation_start": found.validation_start,
        "test_start": found.test_start,
        "tune_budget": 2,
        "tune_folds": 2,
        "bootstrap_samples": 50,
        "mlflow_tracking_uri": None,  # never a tracking server from the caller's environment
        **overrides,
    }
    return TrainingSettings(**values)


def week_settings(platform: PipelineSettings, **overrides: object) -> TrainingSettings:
    """The flights slice: train Jan 1-4, validate Jan 5, test Jan 6-7."""
    return slice_settings(platform, **overrides)


@pytest.fixture(scope="session")
def settings(domain_platform: PipelineSettings) -> TrainingSettings:
    return slice_settings(domain_platform)


@pytest.fixture(scope="session")
def examples(settings: TrainingSettings) -> pd.DataFrame:
    return load_examples(settings)


@pytest.fixture(scope="session")
def entities(settings: TrainingSettings, examples: pd.DataFrame) -> pd.DataFrame:
    store = open_store(settings.feature_repo)
    return entities_for(store, get_service(store, settings.service), examples, settings.task)


@pytest.fixture(scope="session")
def schema(settings: TrainingSettings) -> dict[str, str]:
    return feature_schema(settings)


@pytest.fixture(scope="session")
def frame(settings: TrainingSettings, examples: pd.DataFrame) -> pd.DataFrame:
    return build_training_frame(settings, examples)


@pytest.fixture(scope="session")
def trained(settings: TrainingSettings) -> TrainingResult:
    """One full training run: frame, fit, MLflow run, registered challenger and (first model)
    champion."""
    return train(settings)
