"""Fit and evaluate on a training frame: split by time, tune on time-ordered folds, fit a
gradient-boosted model calibrated on the validation months, and score it and a carrier-rate
baseline on the test months.

Serving relies on one contract: the registered model's `predict_proba(df)[:, 1]` takes a frame
whose columns are exactly the version's `feature_names` tag, in that order, as floats (NaN
missing).
"""

import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

from training import evaluate, tune
from training.errors import SplitError
from training.labels import LABEL, TIMESTAMP
from training.report import Report, silent
from training.settings import TrainingSettings

IMPORTANCE_ROWS = 20_000


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def split_by_time(frame: pd.DataFrame, validation_start: datetime, test_start: datetime) -> Split:
    """train < validation_start <= validation < test_start <= test, by prediction time."""
    at = frame[TIMESTAMP]
    split = Split(
        train=frame[at < validation_start],
        validation=frame[(at >= validation_start) & (at < test_start)],
        test=frame[at >= test_start],
    )
    for name, part in split.parts().items():
        if part[LABEL].nunique() < 2:
            raise SplitError(
                f"the {name} split holds {len(part)} rows with {part[LABEL].nunique()} outcome(s):"
                " move FLIGHTS_VALIDATION_START / FLIGHTS_TEST_START so each split has both"
            )
    return split


@dataclass(frozen=True)
class Baseline:
    """The carrier's late rate over the training months; an unseen carrier gets the overall."""

    rates: dict[str, float]
    overall: float

    @classmethod
    def fit(cls, train: pd.DataFrame) -> "Baseline":
        rates = train.groupby("carrier")[LABEL].mean()
        return cls({str(k): float(v) for k, v in rates.items()}, float(train[LABEL].mean()))

    def predict(self, carriers: pd.Series) -> np.ndarray:
        return carriers.map(self.rates).fillna(self.overall).to_numpy(dtype="float64")


def features(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The model's input: exactly `names`, in order, as floats (NaN where Feast had nothing)."""
    return frame[names].astype("float64")


def fit_model(
    split: Split, names: list[str], params: dict[str, object], seed: int
) -> CalibratedClassifierCV:
    """Gradient boosting fitted on the training months, calibrated on the validation months.

    Calibration on later, unseen months corrects the drift of the base rate between them;
    sigmoid (two parameters) rather than isotonic, which overfits a short validation period.
    """
    booster = tune.model(params, seed).fit(features(split.train, names), split.train[LABEL])
    calibrated = CalibratedClassifierCV(FrozenEstimator(booster), method="sigmoid", ensemble=False)
    with warnings.catch_warnings():
        # its folds only split the calibration rows for a frozen model: a thin class is fine
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        return calibrated.fit(features(split.validation, names), split.validation[LABEL])


def predict(model: CalibratedClassifierCV, frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """P(late) per row, called exactly as serving calls the registered model."""
    return model.predict_proba(features(frame, names))[:, 1]


def evaluate_split(
    model: CalibratedClassifierCV,
    baseline: Baseline,
    split: Split,
    names: list[str],
    settings: TrainingSettings,
) -> dict[str, float]:
    """Model and baseline on the test months; the model on the validation months too."""
    seed, samples = settings.seed, settings.bootstrap_samples
    test, validation = split.test, split.validation
    return {
        **evaluate.scores("test", test[LABEL], predict(model, test, names), seed, samples),
        **evaluate.scores(
            "baseline_test", test[LABEL], baseline.predict(test["carrier"]), seed, samples
        ),
        **evaluate.scores(
            "validation", validation[LABEL], predict(model, validation, names), seed, samples
        ),
    }


def importance(
    model: CalibratedClassifierCV, test: pd.DataFrame, names: list[str], seed: int
) -> pd.Series:
    """Drop in test ROC AUC when one feature's column is shuffled (seeded permutation).

    Every shuffled copy is scored in one `predict_proba` call: a call per feature costs more
    in thread start-up than in trees on small frames. At most IMPORTANCE_ROWS test rows.
    """
    sample = test.sample(min(len(test), IMPORTANCE_ROWS), random_state=seed)
    x, y = features(sample, names), sample[LABEL].to_numpy()
    rng = np.random.default_rng(seed)
    copies = [x.assign(**{name: rng.permutation(x[name].to_numpy())}) for name in names]
    p = model.predict_proba(pd.concat([x, *copies], ignore_index=True))[:, 1].reshape(-1, len(x))
    base = roc_auc_score(y, p[0])
    return pd.Series([base - roc_auc_score(y, q) for q in p[1:]], index=names, name="importance")


@dataclass(frozen=True)
class Fitted:
    model: CalibratedClassifierCV
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
    split = split_by_time(frame, settings.validation_start, settings.test_start)
    sizes = ", ".join(f"{name} {len(part)}" for name, part in split.parts().items())
    report(
        "split",
        f"{sizes} (validation from {settings.validation_start:%Y-%m-%d}, test from "
        f"{settings.test_start:%Y-%m-%d})",
    )
    found = tune.search(
        split.train, names, settings.tune_budget, settings.tune_folds, settings.seed
    )
    report("tune", tune.describe(found, settings))
    model = fit_model(split, names, found.best_params, settings.seed)
    report("fit", f"HistGradientBoosting on {len(names)} features, sigmoid-calibrated")
    baseline = Baseline.fit(split.train)
    metrics = evaluate_split(model, baseline, split, names, settings)
    report("metrics", summary(metrics))
    weights = importance(model, split.test, names, settings.seed)
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
    return {
        **tune.BASE_PARAMS,
        **fitted.search.best_params,
        "calibration": "sigmoid",
        "seed": settings.seed,
        "tune_budget": settings.tune_budget,
        "tune_folds": settings.tune_folds,
        "bootstrap_samples": settings.bootstrap_samples,
        "model_name": settings.model_name,
        "feature_service": settings.feature_service,
        "train_from": train[TIMESTAMP].min().isoformat(),
        "train_until": settings.validation_start.isoformat(),  # exclusive
        "validation_start": settings.validation_start.isoformat(),
        "test_start": settings.test_start.isoformat(),
        "test_until": fitted.split.test[TIMESTAMP].max().isoformat(),  # inclusive
        **{f"rows_{name}": len(part) for name, part in fitted.split.parts().items()},
    }
