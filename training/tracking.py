"""What one training run records in MLflow, so that it can be understood and reproduced.

Tags: the FeatureService, the training frame's fingerprint, the Feast registry's fingerprint,
the code version (git commit) and Feast's own `feast.*` retrieval tags. Params: the chosen
hyperparameters, seed, budgets and the time split. Metrics: test, baseline and validation
scores with ROC AUC intervals. Artifacts: the feature schema, missing shares, the tuning
candidates, the baseline's rates, the plots and the model with its input signature.

Each run also names the process that opened it (`larder.process`, host:pid), so that a run left
RUNNING by a killed process can be told from one still under way: the next training closes
the former as KILLED (`close_abandoned`), and promotion finishes a decision it left half made.
"""

import os
import socket
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training import evaluate, registry
from training.crashpoints import crash_point
from training.examples import LABEL
from training.fit import Fitted, predict, run_params
from training.prepare import Prepared
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from feast import FeatureService

PROCESS = "larder.process"


def process_tag() -> dict[str, str]:
    return {PROCESS: f"{socket.gethostname()}:{os.getpid()}"}


def abandoned(run: Any, after: timedelta | None = None) -> bool:
    """Whether nobody will finish this run: the process that opened it has died on this host,
    or (with `after`) the run has been open longer than that, whatever its host (a container
    restarted under a new name, a reused pid). Otherwise a run of another host is not judged."""
    host, _, pid = run.data.tags.get(PROCESS, "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
        return True
    opened = datetime.fromtimestamp(run.info.start_time / 1000, UTC)
    return after is not None and datetime.now(UTC) - opened > after


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    try:  # Linux: a zombie has died; only its parent has not collected it yet
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def close_abandoned(settings: TrainingSettings, experiment_id: str) -> list[str]:
    """Mark the runs that killed processes left RUNNING in the experiment as KILLED (their ids).

    Such a run holds part of a training and no registered version: a version is registered
    only after its run has closed.
    """
    mlflow = registry.client(settings)
    running = mlflow.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    dead = [run.info.run_id for run in running if abandoned(run)]
    for run_id in dead:
        mlflow.set_terminated(run_id, "KILLED")
    return dead


def run_tags(settings: TrainingSettings, prepared: Prepared) -> dict[str, str]:
    return {
        "feature_service": settings.service,
        "frame_fingerprint": prepared.fingerprint,
        "feast_registry_fingerprint": prepared.registry_fingerprint,
        "code_version": registry.code_version(),
        "kind": "training",
        **process_tag(),
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
    close_abandoned(settings, experiment_id)
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
        model = fitted.model
        model_uri = registry.log_model(feast, model, model.inputs, model.categories)
        crash_point("logged")
    return run.info.run_id, model_uri


def _log_documents(settings: TrainingSettings, prepared: Prepared, fitted: Fitted) -> None:
    import mlflow

    mlflow.log_dict(
        {
            "feature_service": settings.service,
            "features": prepared.schema,
            "model_inputs": prepared.inputs,
            "categories": fitted.model.categories,
        },
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
        "model": predict(fitted.model, test),
        "baseline": fitted.baseline.predict(test),
    }
    evaluate.save_plots(folder, y, predictions, fitted.importance)
    return folder
