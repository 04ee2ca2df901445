"""Hyperparameter search that respects time: expanding folds of the training months.

scikit-learn's RandomizedSearchCV samples `budget` candidates from a small grid (fixed seed)
and scores each by log loss over TimeSeriesSplit folds: every fold validates on flights later
than all the flights it was fitted on, as the model will be used. The validation and test
months are not touched here (validation calibrates the chosen model, test reports on it).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import RandomizedSearchCV, TimeSeriesSplit

from training.labels import LABEL, TIMESTAMP

if TYPE_CHECKING:
    from training.report import Report
    from training.settings import TrainingSettings

# Fixed for every candidate: no internal early stopping (a random slice would see the future).
BASE_PARAMS: dict[str, object] = {"early_stopping": False}
DEFAULT_PARAMS: dict[str, object] = {
    "learning_rate": 0.05,
    "max_iter": 200,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 50,
    "l2_regularization": 1.0,
}
SPACE: dict[str, list[object]] = {
    "learning_rate": [0.03, 0.05, 0.1],
    "max_iter": [100, 200, 400],
    "max_leaf_nodes": [15, 31, 63],
    "min_samples_leaf": [20, 50, 100, 200],
    "l2_regularization": [0.0, 1.0, 10.0],
}


# Below this many rows, OpenMP's thread start-up per tree costs more than the trees: one
# thread is ~5x faster on the week-long fixture, and spares a shared machine.
PARALLEL_FROM_ROWS = 50_000


def threads(rows: int) -> Any:
    """A context in which scikit-learn's trees use one thread for small frames."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="openmp") if rows < PARALLEL_FROM_ROWS else nullcontext()


@dataclass(frozen=True)
class Search:
    best_params: dict[str, object]
    best_log_loss: float | None  # None when the budget is 0 (the defaults, unscored)
    candidates: pd.DataFrame  # one row per candidate: params, mean and std log loss


def model(params: dict[str, object], seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(**BASE_PARAMS, **params, random_state=seed)


def search(train: pd.DataFrame, names: list[str], budget: int, folds: int, seed: int) -> Search:
    """The best of `budget` sampled candidates by mean log loss over time-ordered folds."""
    if budget == 0:
        return Search(dict(DEFAULT_PARAMS), None, pd.DataFrame())
    ordered = train.sort_values(TIMESTAMP, kind="stable")
    searcher = RandomizedSearchCV(
        model({}, seed),
        SPACE,
        n_iter=budget,
        scoring="neg_log_loss",
        cv=TimeSeriesSplit(n_splits=folds),
        random_state=seed,
        refit=False,
        n_jobs=1,  # the trees already use every core
        error_score="raise",
    )
    with threads(len(ordered)):
        searcher.fit(ordered[names].astype("float64"), ordered[LABEL])
    return Search(searcher.best_params_, -float(searcher.best_score_), _table(searcher))


def _table(searcher: RandomizedSearchCV) -> pd.DataFrame:
    results = pd.DataFrame(searcher.cv_results_)
    params = pd.DataFrame(list(results["params"]))
    return params.assign(
        log_loss=-results["mean_test_score"], log_loss_std=results["std_test_score"]
    ).sort_values("log_loss", kind="stable")


def tune_run(settings: "TrainingSettings", report: "Report", saved: Path | None = None) -> str:
    """`python -m training tune`: the search alone, logged as its own MLflow run (its id)."""
    import mlflow

    from training import registry
    from training.fit import split_by_time
    from training.prepare import prepare

    prepared = prepare(settings, report, saved)
    train = split_by_time(prepared.frame, settings.validation_start, settings.test_start).train
    found = search(train, prepared.names, settings.tune_budget, settings.tune_folds, settings.seed)
    experiment_id = registry.use_tracking(settings)
    tags = {
        "kind": "tuning",
        "frame_fingerprint": prepared.fingerprint,
        "feature_service": settings.feature_service,
        "code_version": registry.code_version(),
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name="tune", tags=tags) as run:
        mlflow.log_params(
            {
                **found.best_params,
                "tune_budget": settings.tune_budget,
                "tune_folds": settings.tune_folds,
                "seed": settings.seed,
            }
        )
        if found.best_log_loss is not None:
            mlflow.log_metric("best_cv_log_loss", found.best_log_loss)
            mlflow.log_table(found.candidates, "tuning_candidates.json")
    report("tune", f"{len(train)} training rows; " + describe(found, settings))
    return run.info.run_id


def describe(found: Search, settings: "TrainingSettings") -> str:
    if found.best_log_loss is None:
        return "budget 0: default parameters"
    return (
        f"{settings.tune_budget} candidates x {settings.tune_folds} time folds, best log loss "
        f"{found.best_log_loss:.4f}: {found.best_params}"
    )
