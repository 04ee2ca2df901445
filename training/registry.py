"""MLflow: one run per training, its model registered by name under the aliases `challenger`
and `champion`.

A registered version carries its contract with serving as tags (training.contract writes and
reads them). Feast's MLflow integration adds the run's `feast.*` tags, `feast_features.json`
and the version's `feast.feature_service` tag.

Alias moves are single MLflow calls (one database transaction each), so an alias always points
at a whole version. A version that becomes champion first records the champion it replaces in
its `previous_champion` tag; `rollback` follows that tag.
"""

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.contract import ModelContract
from training.errors import RegistryError
from training.settings import ROOT, TrainingSettings

if TYPE_CHECKING:
    from feast import FeatureStore

MODEL_ARTIFACT = "model"
CHAMPION, CHALLENGER = "champion", "challenger"
PREVIOUS = "previous_champion"
# skops refuses types it cannot vet; these are the calibrated booster's parts, written by us.
SKOPS_TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


def use_tracking(settings: TrainingSettings, experiment: str | None = None) -> str:
    """Point MLflow at the settings' store; the experiment's id, created on first use."""
    import mlflow  # costs seconds: only where needed

    if not settings.mlflow_tracking_uri:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)  # SQLite won't create folders
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    name = experiment or settings.experiment
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(name, artifact_location=settings.artifact_location)


def client(settings: TrainingSettings) -> Any:
    import mlflow

    use_tracking(settings)
    return mlflow.MlflowClient(
        tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri
    )


def feast_client(store: "FeatureStore", settings: TrainingSettings) -> Any:
    """Feast's MLflow integration on this store, enabled here rather than in feature_store.yaml
    (auto-logging off: training logs the retrieval once, not once per chunk)."""
    from feast.mlflow_integration.client import FeastMlflowClient

    store.config.mlflow_config = {
        "enabled": True,
        "tracking_uri": settings.tracking_uri,
        "auto_log": False,
    }
    return FeastMlflowClient(store)


def code_version() -> str:
    """The git commit of the code that ran, `+dirty` when the work tree had changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or "unknown"
    return f"{commit}+dirty" if git("status", "--porcelain", "--untracked-files=no") else commit


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


def log_model(feast: Any, model: Any, names: list[str]) -> str:
    """The model in the active run, through Feast (which adds feast_features.json): its URI."""
    import mlflow

    feast.log_model(
        model,
        MODEL_ARTIFACT,
        signature=signature(names),
        pip_requirements=requirements(),
        serialization_format="skops",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )
    logged = mlflow.last_logged_model()
    if logged is None:
        raise RegistryError("MLflow recorded no logged model after logging one through Feast")
    return logged.model_uri


def log_files(folder: Path, artifact_path: str) -> None:
    import mlflow

    mlflow.log_artifacts(str(folder), artifact_path)


def register(
    settings: TrainingSettings, feast: Any, model_uri: str, contract: ModelContract
) -> str:
    """A new version, tagged with its contract, then aliased `challenger`."""
    version = str(feast.register_model(model_uri, settings.model).version)
    mlflow = client(settings)
    # tags first: a version an alias points at always carries its contract
    for key, value in contract.tags().items():
        mlflow.set_model_version_tag(settings.model, version, key, value)
    mlflow.set_registered_model_alias(settings.model, CHALLENGER, version)
    return version


def version_by_alias(mlflow: Any, name: str, alias: str) -> Any | None:
    """The version `name@alias`, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise


def make_champion(mlflow: Any, name: str, version: str, previous: str | None) -> None:
    """Record the champion being replaced on the new one, then move the alias (one call)."""
    mlflow.set_model_version_tag(name, version, PREVIOUS, previous or "")
    mlflow.set_registered_model_alias(name, CHAMPION, version)
