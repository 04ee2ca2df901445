"""`train`: labelled flights -> point-in-time frame (validated, fingerprinted, saved) -> tune,
fit, calibrate, evaluate -> one MLflow run -> a registered version aliased `challenger`.

The very first version of a model (no champion yet) is also made champion, with the decision
recorded as "first model", so a fresh platform ends with a model to serve. Later versions stay
challengers until `python -m training promote` compares them with the champion.
"""

from dataclasses import dataclass
from pathlib import Path

from training import card, frames, registry, tracking
from training.fit import fit_and_evaluate
from training.prepare import prepare
from training.promote import first_model
from training.report import Report, silent
from training.settings import TrainingSettings


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
    fitted = fit_and_evaluate(prepared.frame, prepared.names, settings, report)
    store = frames.open_store(settings.feature_repo)
    service = frames.get_service(store, settings.feature_service)
    feast = registry.feast_client(store, settings)
    run_id, model_uri = tracking.log_training(settings, feast, service, prepared, fitted)
    report(
        "mlflow", f"run {run_id} in experiment {settings.experiment!r} ({settings.tracking_uri})"
    )
    version = registry.register(settings, feast, model_uri, prepared.schema)
    report("registry", f"{settings.model_name} version {version} is now @{registry.CHALLENGER}")
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
    mlflow = registry.client(settings)
    if registry.version_by_alias(mlflow, settings.model_name, registry.CHAMPION) is not None:
        report("promotion", "a champion exists: compare them with `python -m training promote`")
        return False
    decision = first_model(settings, version)
    report(
        "promotion", f"first model: version {version} is @champion (decision run {decision.run_id})"
    )
    return True
