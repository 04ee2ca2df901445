"""MLflow: one run per training, its model registered by name, the alias moved onto it.

A registered version carries its contract with serving as tags: `feature_service` (the
FeatureService's name), `feature_names` (JSON list, the column order the model expects) and
`feature_types` (JSON object, the registry's Feast type of each feature).
"""

import json
from typing import Any

from training.settings import TrainingSettings

MODEL_ARTIFACT = "model"
# skops refuses types it cannot vet; this one is HistGradientBoosting's tree, written by us.
SKOPS_TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def use_tracking(settings: TrainingSettings) -> str:
    """Point MLflow at the settings' store; the experiment's id, created on first use."""
    import mlflow  # costs seconds: only where needed

    if not settings.mlflow_tracking_uri:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)  # SQLite won't create folders
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    found = mlflow.get_experiment_by_name(settings.experiment)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(
        settings.experiment, artifact_location=settings.artifact_location
    )


def log_run(
    settings: TrainingSettings,
    model: Any,
    params: dict[str, object],
    metrics: dict[str, float],
    schema: dict[str, str],
) -> tuple[str, str]:
    """Params, metrics, feature schema and the model in one run: (run id, model URI)."""
    import mlflow

    experiment_id = use_tracking(settings)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.set_tag("feature_service", settings.feature_service)
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(
            {"feature_service": settings.feature_service, "features": schema},
            "feature_schema.json",
        )
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_ARTIFACT,
            signature=signature(list(schema)),
            pip_requirements=requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
    return run.info.run_id, info.model_uri


def signature(names: list[str]) -> Any:
    """Every input a double that may be missing (NaN); `predict` answers the class, 0 or 1."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec("double", name, required=False) for name in names])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("long")]))


def requirements() -> list[str]:
    # Given, not inferred: inference reloads the model in a subprocess, seconds for nothing.
    import sklearn
    import skops

    return [f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"]


def register(settings: TrainingSettings, model_uri: str, schema: dict[str, str]) -> str:
    """A new version of the settings' model, tagged with its contract, then aliased."""
    import mlflow

    version = str(mlflow.register_model(model_uri, settings.model_name).version)
    client = mlflow.MlflowClient(
        tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri
    )
    tags = {
        "feature_service": settings.feature_service,
        "feature_names": json.dumps(list(schema)),
        "feature_types": json.dumps(schema),
    }
    # tags first: a version the alias points at always carries its contract
    for key, value in tags.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    client.set_registered_model_alias(settings.model_name, settings.model_alias, version)
    return version
