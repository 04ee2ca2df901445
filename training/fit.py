"""Fit and evaluate on a training frame: split by time, tune on time-ordered folds, fit a
gradient-boosted model calibrated on the validation months, and score it and the task's
baseline on the test months.

The model's inputs are the service's features and the task's categorical keys; a string input
is a category. The registered model (training.booster) encodes them itself:
`predict_proba(df)[:, 1]` takes a frame holding those columns as they came from Feast.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from larder import RateBy
from training import booster as boosted
from training import evaluate, tune
from training.booster import CalibratedBooster, Encoding
from training.examples import LABEL, TIMESTAMP
from training.report import Report, silent
from training.settings import TrainingSettings
from training.split import Split, split_by_time

IMPORTANCE_ROWS = 20_000


@dataclass(frozen=True)
class Baseline:
    """The label's rate per value of `column` over the training months (the task's RateBy);
    a value training never saw gets the overall rate."""

    column: str
    rates: dict[str, float]
    overall: float

    @classmethod
    def fit(cls, spec: RateBy, train: pd.DataFrame) -> "Baseline":
        rates = train.groupby(spec.column)[LABEL].mean()
        return cls(
            spec.column, {str(k): float(v) for k, v in rates.items()}, float(train[LABEL].mean())
        )

    @classmethod
    def from_dict(cls, saved: dict) -> "Baseline":
        return cls(saved["column"], saved["rates"], saved["overall"])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        keys = frame[self.column].astype(str)
        return keys.map(self.rates).fillna(self.overall).to_numpy(dtype="float64")


def fit_model(
    split: Split, encoding: Encoding, params: dict[str, object], settings: TrainingSettings
) -> CalibratedBooster:
    """Gradient boosting fitted on the training months, calibrated on the validation months.

    Calibration on later, unseen months corrects the drift of the base rate between them;
    sigmoid (two parameters) rather than isotonic, which overfits a short validation period.
    """
    trees = tune.model(settings.task.model, params, settings.seed, len(split.train))
    return boosted.fit(
        trees, encoding, split.train, split.train[LABEL], split.validation, split.validation[LABEL]
    )


def predict(model: CalibratedBooster, frame: pd.DataFrame) -> np.ndarray:
    """The probability of the positive label per row, as serving computes it."""
    return model.predict_proba(frame)[:, 1]


def evaluate_split(
    model: CalibratedBooster, baseline: Baseline, split: Split, settings: TrainingSettings
) -> dict[str, float]:
    """Model and baseline on the test months; the model on the validation months too."""
    seed, samples = settings.seed, settings.bootstrap_samples
    test, validation = split.test, split.validation
    return {
        **evaluate.scores("test", test[LABEL], predict(model, test), seed, samples),
        **evaluate.scores("baseline_test", test[LABEL], baseline.predict(test), seed, samples),
        **evaluate.scores(
            "validation", validation[LABEL], predict(model, validation), seed, samples
        ),
    }


def importance(model: CalibratedBooster, test: pd.DataFrame, seed: int) -> pd.Series:
    """Drop in test ROC AUC when one input's column is shuffled (seeded permutation).

    Every shuffled copy is scored in one call: a call per input costs more in thread start-up
    than in trees on small frames. At most IMPORTANCE_ROWS test rows.
    """
    sample = test.sample(min(len(test), IMPORTANCE_ROWS), random_state=seed)
    x, y = model.encoding.encode(sample), sample[LABEL].to_numpy()
    rng = np.random.default_rng(seed)
    copies = []
    for i in range(x.shape[1]):
        copy = x.copy()
        copy[:, i] = rng.permutation(copy[:, i])
        copies.append(copy)
    p = model.proba(np.concatenate([x, *copies])).reshape(-1, len(x))
    base = roc_auc_score(y, p[0])
    scores = [base - roc_auc_score(y, q) for q in p[1:]]
    return pd.Series(scores, index=model.inputs, name="importance")


@dataclass(frozen=True)
class Fitted:
    model: CalibratedBooster
    baseline: Baseline
    split: Split
    search: tune.Search
    metrics: dict[str, float]
    importance: pd.Series


def fit_and_evaluate(
    frame: pd.DataFrame, names: list[str], settings: TrainingSettings, report: Report = silent
) -> Fitted:
    with tune.threads(len(frame)):
        return _fit_and_evaluate(frame, names, settings, report)


def _fit_and_evaluate(
    frame: pd.DataFrame, names: list[str], settings: TrainingSettings, report: Report
) -> Fitted:
    times = settings.split
    split = split_by_time(frame, times)
    sizes = ", ".join(f"{name} {len(part)}" for name, part in split.parts().items())
    report(
        "split",
        f"{sizes} (validation from {times.validation_start:%Y-%m-%d}, test from "
        f"{times.test_start:%Y-%m-%d}; rows whose label was known only after the next part "
        f"starts left out: {len(frame) - sum(len(p) for p in split.parts().values())})",
    )
    encoding = Encoding.learn(split.train, names, settings.task.categorical)
    found = tune.search_for(settings, split.train, encoding)
    report("tune", tune.describe(found, settings.tune_budget, settings.tune_folds))
    model = fit_model(split, encoding, found.best_params, settings)
    categorical = ", ".join(f"{n} ({len(v)})" for n, v in encoding.categories.items())
    report(
        "fit",
        f"LightGBM, {model.trees} trees on {len(names)} inputs"
        + (f" (categories: {categorical})" if categorical else "")
        + ", sigmoid-calibrated",
    )
    baseline = Baseline.fit(settings.task.baseline, split.train)
    metrics = evaluate_split(model, baseline, split, settings)
    report("metrics", summary(metrics))
    weights = importance(model, split.test, settings.seed)
    return Fitted(model, baseline, split, found, metrics, weights)


def summary(
    metrics: dict[str, float], prefixes: tuple[str, str] = ("test", "baseline_test")
) -> str:
    def auc(prefix: str) -> str:
        m = metrics
        return (
            f"{m[f'{prefix}_roc_auc']:.4f} "
            f"[{m[f'{prefix}_roc_auc_ci_low']:.4f}, {m[f'{prefix}_roc_auc_ci_high']:.4f}]"
        )

    model, baseline = prefixes
    pairs = [("PR AUC", "pr_auc"), ("log loss", "log_loss"), ("Brier", "brier")]
    rest = ", ".join(
        f"{label} {metrics[f'{model}_{key}']:.4f} vs {metrics[f'{baseline}_{key}']:.4f}"
        for label, key in pairs
    )
    return f"test, model vs baseline: ROC AUC {auc(model)} vs {auc(baseline)}, {rest}"


def run_params(settings: TrainingSettings, fitted: Fitted) -> dict[str, object]:
    train = fitted.split.train
    times = settings.split
    return {
        **settings.task.model.fixed,
        **fitted.search.best_params,
        "calibration": "sigmoid",
        "seed": settings.seed,
        "tune_budget": settings.tune_budget,
        "tune_folds": settings.tune_folds,
        "bootstrap_samples": settings.bootstrap_samples,
        "model_name": settings.model,
        "feature_service": settings.service,
        "baseline": f"rate by {settings.task.baseline.column}",
        "gate_metric": settings.task.gate_metric,
        "train_from": train[TIMESTAMP].min().isoformat(),
        "train_until": times.validation_start.isoformat(),  # exclusive
        "validation_start": times.validation_start.isoformat(),
        "test_start": times.test_start.isoformat(),
        "test_until": fitted.split.test[TIMESTAMP].max().isoformat(),  # inclusive
        **{f"rows_{name}": len(part) for name, part in fitted.split.parts().items()},
    }
