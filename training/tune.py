"""Hyperparameter search that respects time: expanding folds of the training months.

scikit-learn's RandomizedSearchCV samples `budget` candidates from the task's search space
(fixed seed) and scores each by log loss over TimeSeriesSplit folds: every fold validates on
examples later than all the examples it was fitted on, and is fitted only on examples whose
label was known before its validation starts, as the model will be used. The
validation and test months are not touched here (validation calibrates the chosen model, test
reports on it).
"""

import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.model_selection import RandomizedSearchCV, TimeSeriesSplit

from larder import GradientBoosting
from training.booster import Encoding
from training.errors import TrainingError
from training.examples import LABEL, LABEL_KNOWN_AT, TIMESTAMP

if TYPE_CHECKING:
    from training.settings import TrainingSettings

# Below this many rows, OpenMP's thread start-up per tree costs more than the trees: one
# thread is ~5x faster on the week-long fixture, and spares a shared machine.
PARALLEL_FROM_ROWS = 50_000


def threads(rows: int) -> Any:
    """A context in which OpenMP (the trees') uses one thread for small frames."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="openmp") if rows < PARALLEL_FROM_ROWS else nullcontext()


@dataclass(frozen=True)
class Search:
    best_params: dict[str, object]
    best_log_loss: float | None  # None when the budget is 0 (the defaults, unscored)
    candidates: pd.DataFrame  # one row per candidate: params, mean and std log loss


def model(
    spec: GradientBoosting, params: dict[str, object], seed: int, rows: int
) -> LGBMClassifier:
    """LightGBM's classifier, reproducible: the same seed, rows and parameters grow the same
    trees (`deterministic`), on one thread for small frames."""
    return LGBMClassifier(
        **{**spec.fixed, **params},
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=1 if rows < PARALLEL_FROM_ROWS else -1,
        verbose=-1,
    )


def search(
    spec: GradientBoosting,
    train: pd.DataFrame,
    encoding: Encoding,
    budget: int,
    folds: int,
    seed: int,
) -> Search:
    """The best of `budget` sampled candidates by mean log loss over time-ordered folds."""
    if budget == 0:
        return Search(dict(spec.defaults), None, pd.DataFrame())
    ordered = train.sort_values(TIMESTAMP, kind="stable")
    folded = time_folds(ordered, folds)
    searcher = RandomizedSearchCV(
        model(spec, {}, seed, len(ordered)),
        splittable(spec.space, min(len(fit_rows) for fit_rows, _ in folded)),
        n_iter=budget,
        scoring="neg_log_loss",
        cv=folded,
        random_state=seed,
        refit=False,
        n_jobs=1,  # the trees already use every core
        error_score="raise",
    )
    with threads(len(ordered)), warnings.catch_warnings():
        # LightGBM records column names even for an array; scoring folds of it is no mismatch
        warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
        searcher.fit(
            encoding.encode(ordered), ordered[LABEL], categorical_feature=encoding.positions
        )
    return Search(searcher.best_params_, -float(searcher.best_score_), _table(searcher))


def search_for(settings: "TrainingSettings", train: pd.DataFrame, encoding: Encoding) -> Search:
    """`search` with the settings' task model, budget, folds and seed."""
    return search(
        settings.task.model,
        train,
        encoding,
        settings.tune_budget,
        settings.tune_folds,
        settings.seed,
    )


def splittable(space: Mapping[str, list[Any]], rows: int) -> dict[str, list[Any]]:
    """The space without leaf sizes that no split of `rows` rows can honour (each side of a
    split needs `min_child_samples` rows): such a candidate grows no tree at all, and on a
    small frame a constant can win the search. The smallest size stays if none fits."""
    out = {name: list(values) for name, values in space.items()}
    sizes = out.get("min_child_samples")
    if sizes:
        out["min_child_samples"] = [s for s in sizes if 2 * s <= rows] or [min(sizes)]
    return out


def time_folds(ordered: pd.DataFrame, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """TimeSeriesSplit's expanding folds over time-ordered rows, each fold's training rows
    limited to those whose label was known before the fold's first validation row."""
    at = ordered[TIMESTAMP].to_numpy()
    known = ordered[LABEL_KNOWN_AT].to_numpy()
    chosen = []
    for train, test in TimeSeriesSplit(n_splits=folds).split(ordered):
        kept = train[known[train] < at[test].min()]
        if len(kept) == 0:
            raise TrainingError(
                f"a tuning fold starting {pd.Timestamp(at[test].min())} has no training row "
                "whose label was known before it: lower LARDER_TUNE_FOLDS"
            )
        chosen.append((kept, test))
    return chosen


def _table(searcher: RandomizedSearchCV) -> pd.DataFrame:
    results = pd.DataFrame(searcher.cv_results_)
    params = pd.DataFrame(list(results["params"]))
    return params.assign(
        log_loss=-results["mean_test_score"], log_loss_std=results["std_test_score"]
    ).sort_values("log_loss", kind="stable")


def describe(found: Search, budget: int, folds: int) -> str:
    if found.best_log_loss is None:
        return "budget 0: default parameters"
    return (
        f"{budget} candidates x {folds} time folds, best log loss "
        f"{found.best_log_loss:.4f}: {found.best_params}"
    )
