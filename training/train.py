"""`train`: labelled examples -> point-in-time frame (validated, fingerprinted, saved) -> tune,
fit, calibrate, evaluate -> one MLflow run -> a registered version aliased `challenger`.

The very first version of a model (no champion yet) is also made champion, with the decision
recorded as "first model", so a fresh platform ends with a model to serve. Later versions stay
challengers until `python -m training promote` compares them with the champion.

A training killed at any moment leaves no half version (see training.registry) and no half
decision (see training.promote); the next one closes the run it left (training.tracking).

`tune_run` is the hyperparameter search alone, logged as its own run.
"""

from dataclasses import dataclass
from pathlib import Path

from training import card, frames, registry, tracking, tune
from training.booster import Encoding
from training.contract import ModelContract
from training.fit import fit_and_evaluate
from training.prepare import prepare
from training.promote import first_model, settle
from training.report import Report, silent
from training.settings import TrainingSettings
from training.split import split_by_time


@dataclass(frozen=True)
class TrainingResult:
    rows: int
    feature_names: list[str]
    metrics: dict[str, float]
    run_id: str
    version: str
    frame_path: Path
    fingerprint: str
    champion: bool  # whether this version became champion (only the first one does)


def train(
    settings: TrainingSettings, report: Report = silent, saved_frame: Path | None = None
) -> TrainingResult:
    prepared = prepare(settings, report, saved_frame)
    fitted = fit_and_evaluate(prepared.frame, prepared.inputs, settings, report)
    store = frames.open_store(settings.feature_repo)
    service = frames.get_service(store, settings.service)
    feast = registry.feast_client(store, settings)
    run_id, model_uri = tracking.log_training(settings, feast, service, prepared, fitted)
    report(
        "mlflow", f"run {run_id} in experiment {settings.experiment!r} ({settings.tracking_uri})"
    )
    contract = ModelContract(
        settings.service, prepared.schema, prepared.keys, fitted.model.categories
    )
    version = registry.register(settings, feast, model_uri, contract)
    report("registry", f"{settings.model} version {version} is now @{registry.CHALLENGER}")
    champion = _first_is_champion(settings, version, report)
    path = card.write_card(settings, version)
    report("card", f"model card {path}")
    return TrainingResult(
        len(prepared.frame),
        prepared.names,
        fitted.metrics,
        run_id,
        version,
        prepared.path,
        prepared.fingerprint,
        champion,
    )


def _first_is_champion(settings: TrainingSettings, version: str, report: Report) -> bool:
    settle(settings, report)  # a first model a killed training left half promoted comes first
    mlflow = registry.client(settings)
    if registry.version_by_alias(mlflow, settings.model, registry.CHAMPION) is not None:
        report("promotion", "a champion exists: compare them with `python -m training promote`")
        return False
    decision = first_model(settings, version)
    report(
        "promotion", f"first model: version {version} is @champion (decision run {decision.run_id})"
    )
    return True


def tune_run(settings: TrainingSettings, report: Report, saved: Path | None = None) -> str:
    """`python -m training tune`: the search alone, logged as its own MLflow run (its id)."""
    import mlflow

    prepared = prepare(settings, report, saved)
    train_rows = split_by_time(prepared.frame, settings.split).train
    budget, folds = settings.tune_budget, settings.tune_folds
    encoding = Encoding.learn(train_rows, prepared.inputs, prepared.keys)
    found = tune.search_for(settings, train_rows, encoding)
    experiment_id = registry.use_tracking(settings)
    tracking.close_abandoned(settings, experiment_id)
    tags = {
        "kind": "tuning",
        "frame_fingerprint": prepared.fingerprint,
        "feature_service": settings.service,
        "code_version": registry.code_version(),
        **tracking.process_tag(),
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name="tune", tags=tags) as run:
        params = {"tune_budget": budget, "tune_folds": folds, "seed": settings.seed}
        mlflow.log_params({**found.best_params, **params})
        if found.best_log_loss is not None:
            mlflow.log_metric("best_cv_log_loss", found.best_log_loss)
            mlflow.log_table(found.candidates, "tuning_candidates.json")
    report("tune", f"{len(train_rows)} training rows; " + tune.describe(found, budget, folds))
    return run.info.run_id
