"""The promotion gate, rollback, and the record of every decision.

The rule: both models are scored on the same most recent held-out period of the store, the
latest `holdout` (the task's, or `holdout_days`) of labelled examples on or after both models'
test start (so neither was fitted or calibrated on them), each on the features of the
FeatureService it was trained on.
The challenger is promoted only when

  1. the lower end of the 95% paired-bootstrap interval of its gain on the task's gate metric
     (ROC AUC by default) is above `min_gain` (better beyond the noise of which examples
     happened to occur),
  2. its p95 one-row `predict_proba` latency is within `latency_budget_ms`, and
  3. its MLflow artifacts fit in `size_budget_mb`;

otherwise the decision says which of these failed. Every decision (promote, refuse, first
model, rollback) is an MLflow run in the `<experiment>-decisions` experiment: who, what, when,
the versions and the metrics.

A decision is written before it is carried out, and its run's `state` tag says how far it got:
`draft` (the run exists, its record is not whole yet), `pending` (recorded whole, the champion
alias not moved yet), `done`. A process killed in between leaves its run RUNNING; the next
command that moves the alias first `settle`s what a dead process left: a draft is deleted (it
decided nothing), a pending decision is carried out and marked done. So each decision is
recorded once, and the alias moved once for it, however often a killed command is re-run.
"""

import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training import evaluate, frames, registry, tracking, tune
from training.contract import ModelContract
from training.crashpoints import crash_point
from training.errors import RegistryError
from training.examples import LABEL, TIMESTAMP
from training.fit import Baseline
from training.report import Report, silent
from training.settings import TrainingSettings

PROMOTE, REFUSE, FIRST, ROLLBACK = "promote", "refuse", "first model", "rollback"
STATE, DRAFT, PENDING, DONE, STALE = "state", "draft", "pending", "done", "stale"
# A decision's run is open for a second or two; one open this long was abandoned, wherever it
# was opened (its process's liveness can be checked on this host only).
ABANDONED_AFTER = timedelta(hours=1)
LATENCY_CALLS = 50


@dataclass(frozen=True)
class Decision:
    action: str
    challenger: str | None
    champion_before: str | None
    champion_after: str | None
    reasons: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    run_id: str = ""


@dataclass(frozen=True)
class Version:
    """A registered version, its model and the contract it was trained on."""

    number: str
    contract: ModelContract
    run_id: str
    test_start: datetime
    model: Any

    @property
    def names(self) -> list[str]:
        return self.contract.feature_names

    @property
    def service(self) -> str:
        return self.contract.feature_service

    @property
    def inputs(self) -> list[str]:
        return self.contract.inputs

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame[self.inputs])[:, 1]


def load_version(mlflow: Any, name: str, number: str) -> Version:
    import mlflow as mlflow_module

    version = mlflow.get_model_version(name, number)
    contract = ModelContract.from_tags(dict(version.tags), f"{name} version {number}")
    params = mlflow.get_run(version.run_id).data.params
    if "test_start" not in params:
        raise RegistryError(
            f"{name} version {number} has no recorded test_start: its held-out period is "
            "unknown, so it cannot be compared; retrain it with `python -m training train`"
        )
    test_start = datetime.fromisoformat(params["test_start"]).astimezone(UTC)
    uri = mlflow.get_model_version_download_uri(name, number)
    model = mlflow_module.sklearn.load_model(uri)
    return Version(str(number), contract, version.run_id, test_start, model)


@dataclass(frozen=True)
class Holdout:
    """The held-out examples: their labels and period, and their features per service."""

    labels: np.ndarray
    rows: pd.DataFrame  # the entity rows (row_id, keys, event_timestamp, label, ...)
    features: dict[str, pd.DataFrame]  # service -> frame in the same row order

    def predict(self, version: Version) -> np.ndarray:
        return version.predict(self.features[version.service])

    def period(self) -> dict[str, str]:
        at = self.rows[TIMESTAMP]
        return {"period_start": at.min().isoformat(), "period_end": at.max().isoformat()}


def holdout(settings: TrainingSettings, versions: list[Version]) -> Holdout:
    """The latest `holdout_days` of labelled examples none of `versions` saw, with the
    features of every service the versions name (usually one)."""
    task = settings.task
    examples = frames.load_examples(settings)
    at = examples[task.time] - task.lead
    end = at.max()
    start = max([end - settings.holdout, *(v.test_start for v in versions)])
    rows = examples[at >= start].reset_index(drop=True)
    positive = rows[task.label].astype("int64")
    if positive.nunique() < 2:
        raise RegistryError(
            f"the held-out period from {start:%Y-%m-%d %H:%M} holds {len(rows)} examples with "
            f"{positive.nunique()} outcome(s): no fair comparison; add newer data first"
        )
    store = frames.open_store(settings.feature_repo)
    built = {}
    for name in sorted({v.service for v in versions}):
        service = frames.get_service(store, name)
        entities = frames.entities_for(store, service, rows, task)
        built[name] = frames.historical_frame(
            store, service, entities, settings.frame_chunk_rows, task
        )
    first = next(iter(built.values()))
    return Holdout(first[LABEL].to_numpy(), first, built)


def p95_latency_ms(version: Version, frame: pd.DataFrame) -> float:
    """p95 wall time of one-row predictions, the way serving calls the model.

    With one OpenMP thread, as a one-row prediction should run: thread start-up on a busy
    machine costs far more than the trees and would measure the machine, not the model.
    """
    rows = [frame.iloc[[i % len(frame)]] for i in range(LATENCY_CALLS + 5)]
    with tune.threads(1):
        return _p95(version, rows)


def _p95(version: Version, rows: list[pd.DataFrame]) -> float:
    timings = []
    for i, row in enumerate(rows):
        start = time.perf_counter()
        version.predict(row)
        if i >= 5:  # the first calls warm caches up
            timings.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(timings, 95))


def size_mb(mlflow: Any, name: str, number: str) -> float:
    import mlflow as mlflow_module

    uri = mlflow.get_model_version_download_uri(name, number)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(mlflow_module.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder))
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def evidence(
    settings: TrainingSettings, mlflow: Any, challenger: Version, champion: Version
) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics of both models on the shared held-out period, the gain, latency and size."""
    held = holdout(settings, [challenger, champion])
    y, seed, samples = held.labels, settings.seed, settings.bootstrap_samples
    p_new, p_old = held.predict(challenger), held.predict(champion)
    metric = settings.task.gate_metric
    metrics = {
        **evaluate.scores("challenger", y, p_new, seed, samples),
        **evaluate.scores("champion", y, p_old, seed, samples),
        **evaluate.paired_gain(y, p_new, p_old, metric, seed, samples),
        "challenger_p95_latency_ms": p95_latency_ms(challenger, held.features[challenger.service]),
        "challenger_size_mb": size_mb(mlflow, settings.model, challenger.number),
        "rows": float(len(y)),
    }
    return metrics, held.period()


def rule(metrics: dict[str, float], settings: TrainingSettings) -> list[str]:
    """Why the challenger may not be promoted; empty when it may."""
    reasons = []
    metric = settings.task.gate_metric
    if not metrics["gain_ci_low"] > settings.min_gain:
        reasons.append(
            f"{metric} gain {metrics['gain']:+.4f} (95% CI {metrics['gain_ci_low']:+.4f} "
            f"to {metrics['gain_ci_high']:+.4f}) is not above {settings.min_gain} "
            "beyond the bootstrap noise"
        )
    if metrics["challenger_p95_latency_ms"] > settings.latency_budget_ms:
        reasons.append(
            f"p95 latency {metrics['challenger_p95_latency_ms']:.2f} ms is over the budget of "
            f"{settings.latency_budget_ms} ms"
        )
    if metrics["challenger_size_mb"] > settings.size_budget_mb:
        reasons.append(
            f"model size {metrics['challenger_size_mb']:.2f} MB is over the budget of "
            f"{settings.size_budget_mb} MB"
        )
    return reasons


def promote(settings: TrainingSettings, report: Report = silent) -> Decision:
    """Compare @challenger with @champion and move the champion alias if the rule allows."""
    resumed = settle(settings, report)
    mlflow = registry.client(settings)
    name = settings.model
    new = registry.version_by_alias(mlflow, name, registry.CHALLENGER)
    if new is None:
        raise RegistryError(
            f"no {name}@challenger to promote: train one (`python -m training train`)"
        )
    old = registry.version_by_alias(mlflow, name, registry.CHAMPION)
    if old is None:
        return first_model(settings, str(new.version), report)
    if str(old.version) == str(new.version):
        if resumed is not None and resumed.champion_after == str(new.version):
            return resumed  # the killed promotion's own decision, now carried out
        reasons = [f"version {new.version} is already the champion"]
        return decide(
            settings,
            Decision(REFUSE, str(new.version), str(old.version), str(old.version), reasons),
        )
    challenger = load_version(mlflow, name, str(new.version))
    champion = load_version(mlflow, name, str(old.version))
    challenger.contract.check(frames.open_store(settings.feature_repo))
    metrics, period = evidence(settings, mlflow, challenger, champion)
    report("compare", _comparison(metrics, period, settings.task.gate_metric))
    reasons = rule(metrics, settings)
    after = champion.number if reasons else challenger.number
    action = REFUSE if reasons else PROMOTE
    return decide(
        settings,
        Decision(action, challenger.number, champion.number, after, reasons, metrics, period),
    )


def _comparison(metrics: dict[str, float], period: dict[str, str], metric: str) -> str:
    m = metrics
    return (
        f"{int(m['rows'])} held-out examples {period['period_start'][:16]} to "
        f"{period['period_end'][:16]}: {metric} challenger {m[f'challenger_{metric}']:.4f} vs "
        f"champion {m[f'champion_{metric}']:.4f}, gain {m['gain']:+.4f} "
        f"[{m['gain_ci_low']:+.4f}, {m['gain_ci_high']:+.4f}]; "
        f"p95 latency {m['challenger_p95_latency_ms']:.2f} ms, "
        f"size {m['challenger_size_mb']:.2f} MB"
    )


def first_model(settings: TrainingSettings, version: str, report: Report = silent) -> Decision:
    """No champion yet: the version becomes champion without a comparison, and says so."""
    reasons = ["there was no champion: the first model is promoted without a comparison"]
    return decide(settings, Decision(FIRST, version, None, version, reasons))


def rollback(settings: TrainingSettings, report: Report = silent) -> Decision:
    """Put back the champion the current one replaced (its `previous_champion` tag)."""
    resumed = settle(settings, report)
    if resumed is not None and resumed.action == ROLLBACK:
        return resumed  # the killed rollback, now carried out: not one champion further back
    mlflow = registry.client(settings)
    name = settings.model
    current = registry.version_by_alias(mlflow, name, registry.CHAMPION)
    if current is None:
        raise RegistryError(f"no {name}@champion: nothing to roll back")
    previous = current.tags.get(registry.PREVIOUS, "")
    if not previous:
        raise RegistryError(
            f"{name} version {current.version} replaced no earlier champion: "
            "nothing to roll back to"
        )
    reasons = [f"version {current.version} rolled back to the champion it replaced"]
    return decide(settings, Decision(ROLLBACK, None, str(current.version), previous, reasons))


def decide(settings: TrainingSettings, decision: Decision) -> Decision:
    """Record the decision whole, then carry it out, then mark it done: the decision with its
    run id. An error in between leaves the run FAILED, the alias where it was."""
    import mlflow

    experiment_id = registry.use_tracking(settings, settings.decisions_experiment)
    tags = {**_tags(settings, decision), STATE: DRAFT, **tracking.process_tag()}
    with mlflow.start_run(experiment_id=experiment_id, run_name=decision.action, tags=tags) as run:
        crash_point("decision-draft")
        mlflow.log_params({**decision.params, **_budgets(settings)})
        mlflow.log_metrics(decision.metrics)
        mlflow.set_tag(STATE, PENDING)
        crash_point("decision-made")
        decided = replace(decision, run_id=run.info.run_id)
        client = registry.client(settings)
        _carry_out(client, settings.model, decided)
        crash_point("decision-moved")
        mlflow.set_tag(STATE, DONE)
    _note(client, settings.model, decided)
    return decided


def _tags(settings: TrainingSettings, decision: Decision) -> dict[str, str]:
    return {
        "kind": "decision",
        "decision": decision.action,
        "actor": settings.actor,
        "decided_at": datetime.now(UTC).isoformat(),
        "model_name": settings.model,
        "challenger": decision.challenger or "",
        "champion_before": decision.champion_before or "",
        "champion_after": decision.champion_after or "",
        "reasons": " | ".join(decision.reasons),
    }


def _carry_out(mlflow: Any, name: str, decision: Decision) -> None:
    """Move @champion where the decision says (safe to repeat)."""
    after = _target(decision)
    if after is not None and decision.action == ROLLBACK:
        # the version put back keeps its own previous_champion: a second rollback goes further
        mlflow.set_registered_model_alias(name, registry.CHAMPION, after)
    elif after is not None:
        registry.make_champion(mlflow, name, after, decision.champion_before)


def _note(mlflow: Any, name: str, decision: Decision) -> None:
    """The decision on its challenger's `last_decision` tag (a pointer; the run is the record)."""
    if decision.challenger:
        note = f"{decision.action} ({decision.run_id})"
        mlflow.set_model_version_tag(name, decision.challenger, "last_decision", note)


def _target(decision: Decision) -> str | None:
    """The version the decision moves @champion to; None when it moves nothing."""
    after = decision.champion_after
    return after if after and after != decision.champion_before else None


def settle(settings: TrainingSettings, report: Report = silent) -> Decision | None:
    """Finish the decisions dead processes left RUNNING: delete drafts, carry out and mark done
    pending ones (or mark them stale when the champion has moved since). The last decision
    carried out, if any."""
    mlflow = registry.client(settings)
    experiment = mlflow.get_experiment_by_name(settings.decisions_experiment)
    if experiment is None:
        return None
    running = mlflow.search_runs(
        [experiment.experiment_id],
        f"tags.model_name = '{settings.model}' and attributes.status = 'RUNNING'",
        order_by=["attributes.start_time ASC"],
    )
    finished = None
    for run in running:
        state = run.data.tags.get(STATE)  # none: recorded before decisions had states
        if state is None or not tracking.abandoned(run, ABANDONED_AFTER):
            continue
        if state == DRAFT:
            mlflow.delete_run(run.info.run_id)
            report("recover", f"deleted the half-written decision run {run.info.run_id}")
        else:
            finished = _finish(mlflow, settings.model, _recorded(run), report) or finished
    return finished


def _finish(mlflow: Any, name: str, decision: Decision, report: Report) -> Decision | None:
    found = registry.version_by_alias(mlflow, name, registry.CHAMPION)
    now = str(found.version) if found is not None else None
    if _target(decision) and now not in (decision.champion_before, decision.champion_after):
        mlflow.set_tag(decision.run_id, STATE, STALE)
        mlflow.set_terminated(decision.run_id, "FAILED")
        report(
            "recover",
            f"decision run {decision.run_id} ({decision.action}) was not carried out: the "
            f"champion is now {now}, not {decision.champion_before}",
        )
        return None
    _carry_out(mlflow, name, decision)
    mlflow.set_tag(decision.run_id, STATE, DONE)
    mlflow.set_terminated(decision.run_id, "FINISHED")
    _note(mlflow, name, decision)
    report(
        "recover",
        f"carried out the interrupted decision run {decision.run_id}: {decision.action}, "
        f"champion {decision.champion_before or 'none'} -> {decision.champion_after}",
    )
    return decision


def _recorded(run: Any) -> Decision:
    tags = run.data.tags
    return Decision(
        tags["decision"],
        tags["challenger"] or None,
        tags["champion_before"] or None,
        tags["champion_after"] or None,
        tags["reasons"].split(" | ") if tags["reasons"] else [],
        dict(run.data.metrics),
        dict(run.data.params),
        run.info.run_id,
    )


def _budgets(settings: TrainingSettings) -> dict[str, str]:
    keys = [
        "holdout_days",
        "min_gain",
        "latency_budget_ms",
        "size_budget_mb",
        "seed",
        "bootstrap_samples",
    ]
    return {
        **{key: str(getattr(settings, key)) for key in keys},
        "gate_metric": settings.task.gate_metric,
    }


def evaluate_version(
    settings: TrainingSettings, alias: str | None, number: str | None
) -> tuple[str, dict[str, float], dict[str, str]]:
    """A version (by alias or number) and its run's baseline on the latest held-out period."""
    import mlflow as mlflow_module

    mlflow = registry.client(settings)
    name = settings.model
    if number is None:
        found = registry.version_by_alias(mlflow, name, alias or registry.CHAMPION)
        if found is None:
            raise RegistryError(f"no {name}@{alias or registry.CHAMPION} to evaluate")
        number = str(found.version)
    version = load_version(mlflow, name, number)
    saved = mlflow_module.artifacts.load_dict(f"runs:/{version.run_id}/baseline.json")
    held = holdout(settings, [version])
    y, seed, samples = held.labels, settings.seed, settings.bootstrap_samples
    rates = Baseline.from_dict(saved).predict(held.rows)
    metrics = {
        **evaluate.scores("holdout", y, held.predict(version), seed, samples),
        **evaluate.scores("baseline_holdout", y, rates, seed, samples),
        "rows": float(len(y)),
    }
    return number, metrics, {**held.period(), "version": number}


def record_evaluation(
    settings: TrainingSettings, metrics: dict[str, float], period: dict[str, str]
) -> str:
    import mlflow

    experiment_id = registry.use_tracking(settings)
    tags = {"kind": "evaluation", "actor": settings.actor, "model_name": settings.model}
    tags |= tracking.process_tag()
    with mlflow.start_run(experiment_id=experiment_id, run_name="evaluate", tags=tags) as run:
        mlflow.log_params(period)
        mlflow.log_metrics(metrics)
    return run.info.run_id
