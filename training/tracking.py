"""What one training run records in MLflow, so that it can be understood and reproduced.

Tags: the FeatureService, the training frame's fingerprint, the Feast registry's fingerprint,
the code version (git commit) and Feast's own `feast.*` retrieval tags. Params: the chosen
hyperparameters, seed, budgets and the time split. Metrics: test, baseline and validation
scores with ROC AUC intervals. Artifacts: the feature schema, missing shares, the tuning
candidates, the baseline's rates, the plots and the model with its input signature.
"""

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training import evaluate, registry
from training.examples import LABEL
from training.fit import Fitted, predict, run_params
from training.prepare import Prepared
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from feast import FeatureService


def run_tags(settings: TrainingSettings, prepared: Prepared) -> dict[str, str]:
    return {
        "feature_service": settings.service,
        "frame_fingerprint": prepared.fingerprint,
        "feast_registry_fingerprint": prepared.registry_fingerprint,
        "code_version": registry.code_version(),
        "kind": "training",
    }


def log_training(
    settings: TrainingSettings,
    feast: Any,
    service: "FeatureService",
    prepared: Prepared,
    fitted: Fitted,
) -> tuple[str, str]:
    """One MLflow run holding everything about this training: (run id, model URI)."""
    import mlflow

    experiment_id = registry.use_tracking(settings)
    with mlflow.start_run(experiment_id=experiment_id, tags=run_tags(settings, prepared)) as run:
        feast.log_feature_retrieval(
            feature_refs=prepared.feature_refs,
            entity_count=len(prepared.frame),
            duration_seconds=prepared.seconds,
            feature_service=service,
        )
        mlflow.log_params({**run_params(settings, fitted), "frame_path": str(prepared.path)})
        mlflow.log_metrics(fitted.metrics)
        _log_documents(settings, prepared, fitted)
        with tempfile.TemporaryDirectory() as folder:
            registry.log_files(_plots(Path(folder), prepared, fitted), "plots")
        model_uri = registry.log_model(feast, fitted.model, prepared.names)
    return run.info.run_id, model_uri


def _log_documents(settings: TrainingSettings, prepared: Prepared, fitted: Fitted) -> None:
    import mlflow

    mlflow.log_dict(
        {"feature_service": settings.service, "features": prepared.schema},
        "feature_schema.json",
    )
    mlflow.log_dict(prepared.missing, "missing_values.json")
    mlflow.log_dict(asdict(fitted.baseline), "baseline.json")
    mlflow.log_dict(fitted.importance.to_dict(), "feature_importance.json")
    if not fitted.search.candidates.empty:
        mlflow.log_table(fitted.search.candidates, "tuning_candidates.json")


def _plots(folder: Path, prepared: Prepared, fitted: Fitted) -> Path:
    test = fitted.split.test
    y = test[LABEL].to_numpy()
    predictions = {
        "model": predict(fitted.model, test, prepared.names),
        "baseline": fitted.baseline.predict(test),
    }
    evaluate.save_plots(folder, y, predictions, fitted.importance)
    return folder
