"""Train the flight-delay model on a FeatureService's point-in-time frame, compare it with a
baseline, log both to MLflow and register the model as the new champion.

Serving relies on one contract: the champion's `predict_proba(df)[:, 1]` takes a frame whose
columns are exactly the version's `feature_names` tag, in that order, as floats (NaN missing).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from training import registry
from training.errors import SplitError
from training.frames import build_training_frame, feature_schema
from training.labels import LABEL, TIMESTAMP, load_entities
from training.settings import TrainingSettings

MODEL_PARAMS = {
    "learning_rate": 0.05,
    "max_iter": 500,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 50,
    "l2_regularization": 1.0,
    # stops on the validation months, given to fit (a random slice would see the future)
    "early_stopping": True,
    "scoring": "loss",
    "n_iter_no_change": 20,
}

Report = Callable[[str, str], None]


def _silent(step: str, message: str) -> None:
    pass


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


def fit_model(split: Split, names: list[str], seed: int) -> HistGradientBoostingClassifier:
    model = HistGradientBoostingClassifier(**MODEL_PARAMS, random_state=seed)
    return model.fit(
        features(split.train, names),
        split.train[LABEL],
        X_val=features(split.validation, names),
        y_val=split.validation[LABEL],
    )


def scores(prefix: str, y: pd.Series, p: np.ndarray) -> dict[str, float]:
    return {
        f"{prefix}_roc_auc": float(roc_auc_score(y, p)),
        f"{prefix}_log_loss": float(log_loss(y, p, labels=[0, 1])),
        f"{prefix}_brier": float(brier_score_loss(y, p)),
    }


@dataclass(frozen=True)
class Fitted:
    model: HistGradientBoostingClassifier
    baseline: Baseline
    split: Split
    metrics: dict[str, float]


def predict(
    model: HistGradientBoostingClassifier, frame: pd.DataFrame, names: list[str]
) -> np.ndarray:
    """P(late) per row, called exactly as serving calls the registered model."""
    return model.predict_proba(features(frame, names))[:, 1]


def evaluate(
    model: HistGradientBoostingClassifier, baseline: Baseline, split: Split, names: list[str]
) -> dict[str, float]:
    """Model and baseline on the test months; the model on the validation months too."""
    test, validation = split.test, split.validation
    return {
        **scores("test", test[LABEL], predict(model, test, names)),
        **scores("baseline_test", test[LABEL], baseline.predict(test["carrier"])),
        **scores("validation", validation[LABEL], predict(model, validation, names)),
        "n_iter": float(model.n_iter_),
    }


def fit_and_evaluate(
    frame: pd.DataFrame, names: list[str], settings: TrainingSettings, report: Report = _silent
) -> Fitted:
    split = split_by_time(frame, settings.validation_start, settings.test_start)
    sizes = ", ".join(f"{name} {len(part)}" for name, part in split.parts().items())
    report(
        "split",
        f"{sizes} (validation from {settings.validation_start:%Y-%m-%d}, test from "
        f"{settings.test_start:%Y-%m-%d})",
    )
    model = fit_model(split, names, settings.seed)
    report("fit", f"HistGradientBoosting on {len(names)} features, {model.n_iter_} iterations")
    baseline = Baseline.fit(split.train)
    metrics = evaluate(model, baseline, split, names)
    report("metrics", summary(metrics))
    return Fitted(model, baseline, split, metrics)


def summary(metrics: dict[str, float]) -> str:
    pairs = [("ROC AUC", "roc_auc"), ("log loss", "log_loss"), ("Brier", "brier")]
    return "test, model vs baseline: " + ", ".join(
        f"{label} {metrics[f'test_{key}']:.4f} vs {metrics[f'baseline_test_{key}']:.4f}"
        for label, key in pairs
    )


def run_params(settings: TrainingSettings, fitted: Fitted) -> dict[str, object]:
    train = fitted.split.train
    return {
        **MODEL_PARAMS,
        "seed": settings.seed,
        "model_name": settings.model_name,
        "feature_service": settings.feature_service,
        "train_from": train[TIMESTAMP].min().isoformat(),
        "train_until": settings.validation_start.isoformat(),  # exclusive
        "validation_start": settings.validation_start.isoformat(),
        "test_start": settings.test_start.isoformat(),
        **{f"rows_{name}": len(part) for name, part in fitted.split.parts().items()},
    }


@dataclass(frozen=True)
class TrainingResult:
    rows: int
    feature_names: list[str]
    metrics: dict[str, float]
    run_id: str
    version: str


def train(settings: TrainingSettings, report: Report = _silent) -> TrainingResult:
    """Labels -> point-in-time frame -> fit and evaluate -> MLflow run -> champion version."""
    entities = load_entities(settings.flights_table)
    report(
        "labels",
        f"{len(entities)} flights at their prediction times, {entities[LABEL].mean():.1%} late",
    )
    schema = feature_schema(settings)
    frame = build_training_frame(settings, entities)
    report("frame", f"{len(frame)} rows x {len(schema)} features of {settings.feature_service}")
    fitted = fit_and_evaluate(frame, list(schema), settings, report)
    run_id, model_uri = registry.log_run(
        settings, fitted.model, run_params(settings, fitted), fitted.metrics, schema
    )
    report(
        "mlflow", f"run {run_id} in experiment {settings.experiment!r} ({settings.tracking_uri})"
    )
    version = registry.register(settings, model_uri, schema)
    report("registry", f"{settings.model_name} version {version} is now @{settings.model_alias}")
    return TrainingResult(len(frame), list(schema), fitted.metrics, run_id, version)
