"""MLflow: one run per training, its model registered by name under the aliases `challenger`
and `champion`.

A registered version carries its contract with serving as tags (training.contract writes and
reads them). Feast's MLflow integration adds the run's `feast.*` tags and `feast_features.json`;
the version's `feast.feature_service` tag, which Feast's `register_model` would add in a second
call, is written here with the others.

A new SQLite store is created whole (`create_store`). A version is created with all its tags
in one MLflow call (one database transaction), after its run has closed with the model logged,
so a version exists whole or not at all; then @challenger moves to it. Alias moves are single
calls too, so an alias always points at a whole version. A process killed between the two
leaves a whole version that no alias names. A version that becomes champion first records the
champion it replaces in its `previous_champion` tag; `rollback` follows that tag.
"""

import os
import subprocess
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from larder import state
from training.contract import ModelContract
from training.crashpoints import crash_point
from training.errors import RegistryError
from training.settings import ROOT, TrainingSettings

if TYPE_CHECKING:
    from feast import FeatureStore

MODEL_ARTIFACT = "model"
CHAMPION, CHALLENGER = "champion", "challenger"
PREVIOUS = "previous_champion"
# skops refuses types it cannot vet: the model is ours, holding only plain values (its trees
# as LightGBM's text model).
SKOPS_TRUSTED_TYPES = ["training.booster.CalibratedBooster"]


def use_tracking(settings: TrainingSettings, experiment: str | None = None) -> str:
    """Point MLflow at the settings' store; the experiment's id, created on first use."""
    import mlflow  # costs seconds: only where needed

    prepare_store(settings)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    name = experiment or settings.experiment
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(name, artifact_location=settings.artifact_location)


def prepare_store(settings: TrainingSettings) -> None:
    """The settings' store, made before any MLflow client opens it (an MLflow client creates a
    missing SQLite store in place, as it is constructed)."""
    if not settings.mlflow_tracking_uri:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)  # SQLite won't create folders
    create_store(settings.tracking_uri)


def create_store(tracking_uri: str) -> None:
    """A SQLite store that does not exist yet, made whole under a temporary name and then linked
    into place. MLflow creates its tables and runs its migrations over seconds, not in one
    transaction: a process killed meanwhile would leave a store MLflow cannot open again."""
    import mlflow

    path = state.mlflow_path(tracking_uri)
    if path is None or path.exists() or not path.parent.is_dir():
        return  # a server, a store already there, or a folder MLflow will say is missing
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    uri = f"sqlite:///{partial}"
    mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
    try:
        os.link(partial, path)  # unlike a rename, never replaces a store made meanwhile
    except FileExistsError:
        pass  # another process made it first: theirs it is
    finally:
        partial.unlink()


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

    prepare_store(settings)
    store.config.mlflow_config = {
        "enabled": True,
        "tracking_uri": settings.tracking_uri,
        "auto_log": False,
    }
    return FeastMlflowClient(store)


CODE_VERSION = "LARDER_CODE_VERSION"  # set where there is no repository (the image's build)


def code_version() -> str:
    """The git commit of the code that ran, `+dirty` when the work tree had changes; or
    LARDER_CODE_VERSION, as a container image records the commit it was built from."""
    given = os.environ.get(CODE_VERSION, "").strip()
    if given:
        return given

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        except OSError:  # no git on this machine
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or "unknown"
    return f"{commit}+dirty" if git("status", "--porcelain", "--untracked-files=no") else commit


def signature(inputs: list[str], categorical: Collection[str] = ()) -> Any:
    """Each input a double, or a string for a category, that may be missing; `predict`
    answers the class, 0 or 1."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    kinds = {name: "string" if name in categorical else "double" for name in inputs}
    columns = Schema([ColSpec(kind, name, required=False) for name, kind in kinds.items()])
    return ModelSignature(inputs=columns, outputs=Schema([ColSpec("long")]))


def requirements() -> list[str]:
    # Given, not inferred: inference reloads the model in a subprocess, seconds for nothing.
    import lightgbm
    import sklearn
    import skops

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"skops=={skops.__version__}",
        f"lightgbm=={lightgbm.__version__}",
    ]


def log_model(feast: Any, model: Any, inputs: list[str], categorical: Collection[str] = ()) -> str:
    """The model in the active run, through Feast (which adds feast_features.json): its URI."""
    import mlflow

    feast.log_model(
        model,
        MODEL_ARTIFACT,
        signature=signature(inputs, categorical),
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
    """A new version, created whole with its tags in one call, then aliased `challenger`."""
    import mlflow

    use_tracking(settings)
    tags = {**_feast_tags(feast, model_uri), **contract.tags()}
    version = str(mlflow.register_model(model_uri, settings.model, tags=tags).version)
    crash_point("registered")
    client(settings).set_registered_model_alias(settings.model, CHALLENGER, version)
    return version


def _feast_tags(feast: Any, model_uri: str) -> dict[str, str]:
    """Feast's `feast.feature_service` version tag: the service its run retrieved, if any."""
    logged = feast.client.get_logged_model(model_uri.removeprefix("models:/"))
    service = feast.client.get_run(logged.source_run_id).data.tags.get("feast.feature_service")
    return {"feast.feature_service": service} if service else {}


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
