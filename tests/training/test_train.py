"""Training: time split, tuning, model vs baseline, the MLflow run with everything needed to
reproduce it, and the first model registered as challenger and champion."""

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from larder import RateBy, TimeSplit
from training.dataset import fingerprint, load_frame
from training.errors import SplitError
from training.examples import LABEL, LABEL_KNOWN_AT, TIMESTAMP
from training.fit import Baseline, Fitted, fit_and_evaluate
from training.settings import TrainingSettings
from training.split import split_by_time
from training.train import TrainingResult

METRICS = ["roc_auc", "roc_auc_ci_low", "roc_auc_ci_high", "pr_auc", "log_loss", "brier"]


def _mlflow(settings: TrainingSettings):
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)  # `models:/` URIs resolve against it
    return mlflow, mlflow.MlflowClient(settings.tracking_uri, settings.tracking_uri)


SPLIT = TimeSplit(datetime(2013, 1, 5, tzinfo=UTC), datetime(2013, 1, 6, tzinfo=UTC))


def test_split_is_by_prediction_time_with_closed_starts():
    at = pd.to_datetime(
        ["2013-01-04 23:59", "2013-01-05 00:00", "2013-01-05 12:00", "2013-01-06 00:00"], utc=True
    )
    frame = pd.DataFrame({TIMESTAMP: at, LABEL_KNOWN_AT: at, LABEL: [0, 1, 0, 1]})
    with pytest.raises(SplitError):  # single-outcome parts are refused...
        split_by_time(frame, SPLIT)
    frame = pd.concat([frame, frame.assign(**{LABEL: 1 - frame[LABEL]})])
    split = split_by_time(frame, SPLIT)
    assert (split.train[TIMESTAMP] < "2013-01-05").all() and len(split.train) == 2
    assert len(split.validation) == 4 and len(split.test) == 2  # ...the boundaries are not


def test_a_label_known_only_in_the_next_part_is_not_learnt_from():
    at = pd.to_datetime(["2013-01-04 20:00"] * 4 + ["2013-01-05 20:00"] * 4, utc=True)
    known = at + pd.to_timedelta([1, 1, 6, 6, 1, 1, 6, 6], unit="h")  # some known next day
    frame = pd.DataFrame({TIMESTAMP: at, LABEL_KNOWN_AT: known, LABEL: [0, 1, 0, 1] * 2})
    day = pd.Timedelta("1D")
    later = frame.assign(**{TIMESTAMP: at + day, LABEL_KNOWN_AT: known + day})
    split = split_by_time(pd.concat([frame, later]), SPLIT)
    assert (split.train[LABEL_KNOWN_AT] < SPLIT.validation_start).all() and len(split.train) == 2
    assert (split.validation[LABEL_KNOWN_AT] < SPLIT.test_start).all()
    assert len(split.validation) == 4 and len(split.test) == 4


def test_an_empty_split_says_which_setting_to_move(frame: pd.DataFrame, settings):
    far = TimeSplit(settings.split.validation_start, datetime(2100, 1, 1, tzinfo=UTC))
    with pytest.raises(SplitError, match="test split holds 0 rows.*LARDER_TEST_START"):
        split_by_time(frame, far)


def test_baseline_is_the_training_rate_per_value_else_overall():
    train = pd.DataFrame({"carrier": ["AA", "AA", "UA", "UA"], LABEL: [1, 0, 1, 1]})
    baseline = Baseline.fit(RateBy("carrier"), train)
    predicted = baseline.predict(pd.DataFrame({"carrier": ["AA", "UA", "ZZ"]}))
    np.testing.assert_allclose(predicted, [0.5, 1.0, 0.75])
    assert Baseline.from_dict(baseline.__dict__) == baseline


@pytest.fixture(scope="module")
def again(frame: pd.DataFrame, schema: dict[str, str], settings: TrainingSettings) -> Fitted:
    """The fixture's frame fitted once more, outside `train`."""
    return fit_and_evaluate(frame, list(schema), settings)


def test_same_data_and_seed_give_the_same_metrics(again: Fitted, trained: TrainingResult):
    assert again.metrics == trained.metrics  # search, fit, calibration, bootstrap: all seeded


def test_the_saved_frame_reproduces_the_run(
    frame: pd.DataFrame, schema: dict[str, str], settings: TrainingSettings, trained: TrainingResult
):  # the saved frame, read back, gives the run's metrics again
    assert fingerprint(frame) == trained.fingerprint  # Feast gives the same frame again
    saved = load_frame(trained.frame_path)
    assert trained.frame_path.stem == trained.fingerprint
    assert fit_and_evaluate(saved, list(schema), settings).metrics == trained.metrics


def test_another_seed_is_another_model(frame, schema: dict[str, str], settings, again: Fitted):
    other = fit_and_evaluate(frame, list(schema), settings.model_copy(update={"seed": 7}))
    assert other.metrics != again.metrics


def test_metrics_cover_model_and_baseline(trained: TrainingResult):
    for prefix in ("test", "baseline_test", "validation"):
        for name in METRICS:
            assert np.isfinite(trained.metrics[f"{prefix}_{name}"])
    assert 0 <= trained.metrics["test_roc_auc"] <= 1
    assert trained.metrics["test_roc_auc_ci_low"] <= trained.metrics["test_roc_auc"]
    assert trained.metrics["test_roc_auc"] <= trained.metrics["test_roc_auc_ci_high"]


def test_run_records_params_metrics_and_feature_schema(
    settings: TrainingSettings, trained: TrainingResult, schema: dict[str, str]
):
    mlflow, client = _mlflow(settings)
    run = client.get_run(trained.run_id)
    service = settings.service
    assert run.data.tags["feature_service"] == service
    assert run.data.params["feature_service"] == service
    assert run.data.params["train_until"] == settings.split.validation_start.isoformat()
    assert run.data.metrics["baseline_test_brier"] == trained.metrics["baseline_test_brier"]
    logged = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/feature_schema.json")
    keys = [k for k in settings.task.categorical if k not in schema]
    assert logged["feature_service"] == service and logged["features"] == schema
    assert logged["model_inputs"] == [*schema, *keys]
    strings = {n for n, kind in schema.items() if kind == "String"}
    assert set(logged["categories"]) == strings | set(keys)
    assert run.info.artifact_uri.startswith((settings.mlflow_dir / "artifacts").as_uri())
    assert run.data.tags["frame_fingerprint"] == trained.fingerprint
    assert len(run.data.tags["feast_registry_fingerprint"]) == 64
    assert run.data.tags["code_version"] not in ("", "unknown")
    # Feast's MLflow integration: its retrieval tags and feast_features.json
    assert run.data.tags["feast.feature_service"] == service
    assert run.data.tags["feast.feature_count"] == str(len(schema))
    artifacts = {a.path for a in client.list_artifacts(trained.run_id)}
    assert {"feast_features.json", "missing_values.json", "baseline.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(trained.run_id, "plots")}
    assert plots == {"plots/roc.png", "plots/calibration.png", "plots/feature_importance.png"}
    assert run.data.params["tune_budget"] == "2" and "learning_rate" in run.data.params


def test_model_is_logged_with_its_input_signature(
    settings: TrainingSettings, trained: TrainingResult, schema: dict[str, str]
):
    from mlflow.models import get_model_info

    _mlflow(settings)
    info = get_model_info(f"models:/{settings.model}/{trained.version}")
    keys = [k for k in settings.task.categorical if k not in schema]
    assert info.signature.inputs.input_names() == [*schema, *keys]
    kinds = {c.name: c.type.name for c in info.signature.inputs.inputs}
    assert all(kinds[k] == "string" for k in keys)


def test_first_version_is_challenger_and_champion_with_its_contract(
    settings: TrainingSettings, trained: TrainingResult, schema: dict[str, str]
):
    _, client = _mlflow(settings)
    version = client.get_model_version_by_alias(settings.model, "champion")
    assert str(version.version) == trained.version and trained.champion
    assert (
        client.get_model_version_by_alias(settings.model, "challenger").version == version.version
    )
    assert version.tags["feature_service"] == settings.service
    assert json.loads(version.tags["feature_names"]) == list(schema) == trained.feature_names
    assert json.loads(version.tags["feature_types"]) == schema


def test_champion_predicts_probabilities_on_the_feature_columns(
    settings: TrainingSettings, trained: TrainingResult, frame: pd.DataFrame
):
    mlflow, client = _mlflow(settings)
    version = client.get_model_version_by_alias(settings.model, "champion")
    names = json.loads(version.tags["model_inputs"])
    model = mlflow.sklearn.load_model(f"models:/{settings.model}@champion")
    p = model.predict_proba(frame[names])[:, 1]
    assert p.shape == (len(frame),)
    assert ((p >= 0) & (p <= 1)).all()
    assert model.inputs == names
    assert model.categories == json.loads(version.tags["categories"])
    missing = pd.DataFrame([[None] * len(names)], columns=names)  # nothing known
    assert 0 <= model.predict_proba(missing)[0, 1] <= 1
