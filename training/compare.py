"""`compare`: what each part of the FeatureService is worth, as MLflow runs side by side.

On one training frame of the task's service, with one set of tuned parameters, the same
learner is fitted on:

- `full`: every input (the service's features and the task's categorical keys);
- `reference`, when one is named: only the features of that (earlier, narrower) service,
  without categorical keys: what the previous champion read;
- `without <view>`: every input but one view's features (an ablation per view), and
  `without keys`: every input but the categorical keys.

Each is scored on the test months (ROC AUC, log loss, Brier and expected calibration error,
each with a bootstrap interval) and paired with `full` on the same resamples: the AUC a
variant loses against the full model, with its interval, says what that part adds. `full`
is paired with `reference` the other way round: the gain of the new service over the old.
Every variant is a run of the experiment `<model>-comparison`; the table is logged with the
parent run and printed.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training import evaluate, frames, tune
from training.booster import Encoding
from training.examples import LABEL
from training.fit import fit_model, predict
from training.prepare import Prepared, prepare
from training.report import Report, silent
from training.settings import TrainingSettings
from training.split import Split, split_by_time

SCORED = ("roc_auc", "log_loss", "brier", "ece")


@dataclass(frozen=True)
class Variant:
    name: str
    inputs: list[str]
    keys: tuple[str, ...]


def variants(
    settings: TrainingSettings, prepared: Prepared, reference: str | None
) -> list[Variant]:
    """full, the reference service's features, and one ablation per view and for the keys."""
    store = frames.open_store(settings.feature_repo)
    service = frames.get_service(store, settings.service)
    full = Variant("full", prepared.inputs, prepared.keys)
    found = [full]
    if reference and reference != settings.service:
        ref = frames.service_schema(frames.get_service(store, reference))
        kept = [n for n in ref if n in prepared.schema]
        found.append(Variant(f"reference ({reference})", kept, ()))
    for projection in service.feature_view_projections:
        dropped = {f.name for f in projection.features}
        kept = [n for n in full.inputs if n not in dropped]
        found.append(Variant(f"without {projection.name}", kept, full.keys))
    if full.keys:
        found.append(Variant("without keys", [n for n in full.inputs if n not in full.keys], ()))
    return found


def score(
    y: np.ndarray, p: np.ndarray, full: np.ndarray, settings: TrainingSettings, gain_sign: float
) -> dict[str, float]:
    """The variant's scores with intervals, and its AUC against `full`'s on the same draws
    (`gain_sign` 1: variant minus full; -1: full minus variant)."""
    seed, samples = settings.seed, settings.bootstrap_samples
    out: dict[str, float] = {}
    for metric in SCORED:
        value = float(evaluate.METRICS[metric](y, p))
        low, high = evaluate.interval(y, p, metric, seed, samples)
        out |= {metric: value, f"{metric}_ci_low": low, f"{metric}_ci_high": high}
    first, second = (p, full) if gain_sign > 0 else (full, p)
    gain = evaluate.paired_gain(y, first, second, "roc_auc", seed, samples)
    return out | {f"auc_{k}": v for k, v in gain.items()}


def compare(
    settings: TrainingSettings,
    report: Report = silent,
    reference: str | None = None,
    saved: Path | None = None,
) -> tuple[str, pd.DataFrame]:
    """Fit and score every variant, log each as a run; (parent run id, the table)."""
    import mlflow

    from training import registry

    prepared = prepare(settings, report, saved)
    split = split_by_time(prepared.frame, settings.split)
    found = variants(settings, prepared, reference)
    encoding = Encoding.learn(split.train, prepared.inputs, prepared.keys)
    search = tune.search_for(settings, split.train, encoding)
    report("tune", tune.describe(search, settings.tune_budget, settings.tune_folds))
    y = split.test[LABEL].to_numpy()
    predictions = {v.name: _fit(split, v, search.best_params, settings) for v in found}
    full = predictions["full"]
    rows: list[dict] = []
    for variant in found:
        sign = -1.0 if variant.name.startswith("reference") else 1.0
        scores = score(y, predictions[variant.name], full, settings, sign)
        rows.append({"variant": variant.name, "inputs": len(variant.inputs), **scores})
        row = rows[-1]
        report("score", _line(row))
    table = pd.DataFrame(rows)
    experiment = registry.use_tracking(settings, f"{settings.model}-comparison")
    tags = {"feature_service": settings.service, "frame_fingerprint": prepared.fingerprint}
    with mlflow.start_run(experiment_id=experiment, run_name="comparison", tags=tags) as parent:
        params = {**search.best_params, "reference": reference or "", "seed": settings.seed}
        mlflow.log_params(params)
        for row in rows:
            name = str(row["variant"])
            with mlflow.start_run(experiment_id=experiment, run_name=name, nested=True, tags=tags):
                mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "variant"})
        mlflow.log_table(table, "comparison.json")
        mlflow.log_text(markdown(table), "comparison.md")
    return parent.info.run_id, table


def _fit(split: Split, variant: Variant, params: dict, settings: TrainingSettings) -> np.ndarray:
    encoding = Encoding.learn(split.train, variant.inputs, variant.keys)
    return predict(fit_model(split, encoding, params, settings), split.test)


def _line(row: dict) -> str:
    return (
        f"{row['variant']}: ROC AUC {row['roc_auc']:.4f} [{row['roc_auc_ci_low']:.4f}, "
        f"{row['roc_auc_ci_high']:.4f}], vs full {row['auc_gain']:+.4f} "
        f"[{row['auc_gain_ci_low']:+.4f}, {row['auc_gain_ci_high']:+.4f}], log loss "
        f"{row['log_loss']:.4f}, Brier {row['brier']:.4f}, ECE {row['ece']:.4f}"
    )


def markdown(table: pd.DataFrame) -> str:
    """The table as markdown: each score with its 95% interval; the paired difference is the
    variant's AUC minus full's (for the reference, full's minus the reference's)."""

    def cell(row: pd.Series, key: str, fmt: str = ".4f") -> str:
        return f"{row[key]:{fmt}} [{row[f'{key}_ci_low']:{fmt}}, {row[f'{key}_ci_high']:{fmt}}]"

    lines = [
        "| variant | inputs | ROC AUC | paired AUC difference (variant - full; reference: "
        "full - reference) | log loss | Brier | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        lines.append(
            f"| {row['variant']} | {row['inputs']} | {cell(row, 'roc_auc')} | "
            f"{cell(row, 'auc_gain', '+.4f')} | {cell(row, 'log_loss')} | "
            f"{cell(row, 'brier')} | {cell(row, 'ece')} |"
        )
    return "\n".join(lines) + "\n"
