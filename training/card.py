"""A model card per registered version: markdown beside copies of its plots.

Everything in it is read back from MLflow (the version's tags, its run's params, metrics and
artifacts), so a card can be written again for any version at any time.
"""

import json
from pathlib import Path
from typing import Any

from larder import Task
from training import registry
from training.settings import TrainingSettings

LIMITS = [
    "Calibrated on the validation months; a later shift in the share of positive examples "
    "(season, a change upstream) degrades calibration before it degrades ranking.",
    "Entities the feature store has no rows for get missing values for their features; the "
    "model still answers, with less to go on.",
]
METRICS = [
    ("ROC AUC", "roc_auc"),
    ("PR AUC", "pr_auc"),
    ("log loss", "log_loss"),
    ("Brier", "brier"),
    ("expected calibration error (10 equal-count bins)", "ece"),
]
PLOTS = ["roc.png", "calibration.png", "feature_importance.png"]


def write_card(settings: TrainingSettings, version: str) -> Path:
    """`cards_dir/<model>-v<version>/model_card.md`, also logged to the version's run."""
    mlflow = registry.client(settings)
    found = mlflow.get_model_version(settings.model, version)
    run = mlflow.get_run(found.run_id)
    folder = settings.cards_dir / f"{settings.model}-v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    plots = _copy_plots(mlflow, found.run_id, folder)
    text = render(
        settings.task,
        settings.model,
        version,
        dict(found.tags),
        run.data.params,
        run.data.metrics,
        plots,
        _missing(mlflow, found.run_id, folder),
    )
    path = folder / "model_card.md"
    path.write_text(text)
    mlflow.log_artifact(found.run_id, str(path))
    return path


def _copy_plots(mlflow: Any, run_id: str, folder: Path) -> list[str]:
    names = {a.path.split("/")[-1] for a in mlflow.list_artifacts(run_id, "plots")}
    if not names:
        return []
    mlflow.download_artifacts(run_id, "plots", str(folder))
    return [f"plots/{name}" for name in PLOTS if name in names]


def _missing(mlflow: Any, run_id: str, folder: Path) -> dict[str, float]:
    names = {a.path for a in mlflow.list_artifacts(run_id)}
    if "missing_values.json" not in names:
        return {}
    return json.loads(
        Path(mlflow.download_artifacts(run_id, "missing_values.json", str(folder))).read_text()
    )


def render(
    task: Task,
    name: str,
    version: str,
    tags: dict[str, str],
    params: dict[str, str],
    metrics: dict[str, float],
    plots: list[str],
    missing: dict[str, float],
) -> str:
    lines = [
        f"# Model card: {name} version {version}",
        "",
        f"Predicts {task.description}. A gradient-boosted tree model (LightGBM, categorical "
        "inputs split natively), sigmoid-calibrated on the validation months, against a "
        f"baseline of the rate per `{task.baseline.column}` over the training months.",
        "",
        *_data(params, tags),
        *_features(tags),
        *_metrics(metrics),
        *[f"![{p}]({p})" for p in plots],
        "",
        "## Known limits",
        "",
        *[f"- {limit}" for limit in (*task.limits, *LIMITS)],
        *_sparse(missing),
    ]
    return "\n".join(lines) + "\n"


def _data(params: dict[str, str], tags: dict[str, str]) -> list[str]:
    get = lambda key: params.get(key, "?")  # noqa: E731
    return [
        "## Data",
        "",
        f"- train: {get('train_from')[:10]} to {get('train_until')[:10]} (exclusive), "
        f"{get('rows_train')} examples",
        f"- validation (calibration): from {get('validation_start')[:10]}, "
        f"{get('rows_validation')} examples",
        f"- test: {get('test_start')[:10]} to {get('test_until')[:10]}, "
        f"{get('rows_test')} examples",
        f"- training frame: `{get('frame_path')}`",
        f"- seed {get('seed')}, tuning budget {get('tune_budget')} candidates x "
        f"{get('tune_folds')} time folds",
        "",
    ]


def _features(tags: dict[str, str]) -> list[str]:
    types = json.loads(tags.get("feature_types", "{}"))
    categories = json.loads(tags.get("categories", "{}"))
    keys = [n for n in json.loads(tags.get("model_inputs", "[]")) if n not in types]
    lines = [
        f"## FeatureService `{tags.get('feature_service', '?')}`",
        "",
        ", ".join(f"`{n}` ({t})" for n, t in types.items()),
        "",
    ]
    if keys:
        lines += [f"Entity keys read as categories: {', '.join(f'`{k}`' for k in keys)}.", ""]
    if categories:
        known = "; ".join(f"`{n}` {len(v)}" for n, v in categories.items())
        lines += [
            f"Categories known (a category not seen in training is read as missing): {known}.",
            "",
        ]
    return lines


def _metrics(metrics: dict[str, float]) -> list[str]:
    rows = ["| metric | model | baseline |", "|---|---|---|"]
    for label, key in METRICS:
        rows.append(
            f"| {label} | {_value(metrics, 'test', key)} "
            f"| {_value(metrics, 'baseline_test', key)} |"
        )
    return [
        "## Test-period metrics (95% bootstrap interval for ROC AUC; calibration.png is the "
        "reliability diagram)",
        "",
        *rows,
        "",
    ]


def _value(metrics: dict[str, float], prefix: str, key: str) -> str:
    value = metrics.get(f"{prefix}_{key}")
    if value is None:
        return "?"
    low, high = metrics.get(f"{prefix}_{key}_ci_low"), metrics.get(f"{prefix}_{key}_ci_high")
    return f"{value:.4f}" + (f" [{low:.4f}, {high:.4f}]" if low is not None else "")


def _sparse(missing: dict[str, float]) -> list[str]:
    sparse = {n: s for n, s in missing.items() if s > 0.2}
    if not sparse:
        return []
    listed = ", ".join(f"`{n}` {s:.0%}" for n, s in sorted(sparse.items(), key=lambda i: -i[1]))
    return [f"- Features often missing in training (treated as unknown): {listed}."]
