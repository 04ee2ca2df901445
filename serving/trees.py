"""A compiled copy of a fitted HistGradientBoosting classifier, for one-row predictions.

sklearn's `predict_proba` on one row costs milliseconds: it validates the input (a DataFrame's
column names and dtypes) and then calls each of hundreds of trees in turn. Here the trees'
nodes are stacked into flat arrays once, at load time, and all trees take one step per numpy
call, so a row costs one call per level of the deepest tree. Leaf values are summed in sklearn's
order (baseline, then tree by tree) and the link and calibrators are the estimator's own
objects, so the probabilities are sklearn's bit for bit. `fast_path` checks that on probe rows
before it hands the compiled model out, and gives None (use the estimator) otherwise.

Supported: a binary `HistGradientBoostingClassifier` without categorical splits, alone or inside
a `CalibratedClassifierCV` (sigmoid or isotonic, one or more folds, frozen or not).
"""

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

Proba = Callable[[np.ndarray], np.ndarray]  # float64 rows x features -> P(positive class)
PROBE_ROWS = 512
HUGE = 1e300  # probe values beyond every real threshold, still finite
CLIP = 1e-5  # CalibratedClassifierCV rounds probabilities in (1, 1 + CLIP] down to 1


class Forest:
    """The trees of one binary HistGradientBoostingClassifier as flat node arrays.

    Nodes are renumbered so that each split's two children are neighbours (left, then
    right): a step is then `node = first_child[node] + (x > threshold[node])`. Missing values
    are folded into the data instead of tested at each node: every feature appears twice in
    the row a tree reads, once with NaN as -inf (for splits that send missing values left)
    and once as +inf (for splits that send them right).
    """

    def __init__(self, booster: Any) -> None:
        self.width = int(booster.n_features_in_)
        trees = [_renumbered(p.nodes, self.width) for [p] in booster._predictors]
        sizes = np.array([len(tree[0]) for tree in trees])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        self.roots = starts
        self.first_child = np.concatenate([t[0] + s for t, s in zip(trees, starts, strict=True)])
        self.feature = np.concatenate([t[1] for t in trees])
        self.threshold = np.concatenate([t[2] for t in trees])
        self.value = np.concatenate([t[3] for t in trees])
        self.depth = int(max(predictor.nodes["depth"].max() for [predictor] in booster._predictors))
        self.baseline = float(np.asarray(booster._baseline_prediction).ravel()[0])

    def decision(self, rows: np.ndarray) -> np.ndarray:
        """The booster's `decision_function`: baseline plus every tree's leaf, per row.

        Rows must hold no infinite value (the +-inf stand-ins for NaN would be ambiguous).
        """
        n = len(rows)
        missing = np.isnan(rows)
        doubled = np.concatenate(
            [np.where(missing, -np.inf, rows), np.where(missing, np.inf, rows)], axis=1
        ).ravel()
        node = np.tile(self.roots, (n, 1))
        # Each row's slots start 2 * width further into `doubled` (no offset for one row).
        base = (np.arange(n, dtype=np.intp) * (2 * self.width))[:, None] if n > 1 else 0
        feature, threshold, first_child = self.feature, self.threshold, self.first_child
        for _ in range(self.depth):
            x = doubled[feature[node] + base]
            node = first_child[node] + (x > threshold[node])
        terms = np.empty((n, node.shape[1] + 1))
        terms[:, 0] = self.baseline
        terms[:, 1:] = self.value[node]
        # Sequential sums, as sklearn adds tree after tree (np.sum would sum pairwise).
        return np.cumsum(terms, axis=1)[:, -1]

    def thresholds(self, feature: int) -> np.ndarray:
        split = self.feature % self.width == feature
        split &= self.first_child != np.arange(len(self.first_child))
        return np.unique(self.threshold[split])


def _renumbered(nodes: np.ndarray, width: int) -> tuple[np.ndarray, ...]:
    """One tree as (first child, feature slot, threshold, value), children side by side.

    A leaf is its own first child with an infinite threshold, so it never moves. A split that
    sends missing values right reads the +inf copy of its feature; its threshold, +inf when it
    splits missing from present values, becomes the largest float so that +inf still goes right.
    """
    order, first = [0], {}
    for old in order:  # breadth first; `order` grows while it is walked
        if not nodes["is_leaf"][old]:
            first[old] = len(order)
            order += [int(nodes["left"][old]), int(nodes["right"][old])]
    new = {old: i for i, old in enumerate(order)}
    picked = nodes[order]
    leaf = picked["is_leaf"].astype(bool)
    right = ~picked["missing_go_to_left"].astype(bool)
    slot = picked["feature_idx"].astype(np.intp) + np.where(right, width, 0)
    first_child = np.array([first.get(old, new[old]) for old in order], dtype=np.intp)
    threshold = picked["num_threshold"].astype(np.float64)
    threshold = np.where(right & (threshold == np.inf), np.finfo(np.float64).max, threshold)
    threshold = np.where(leaf, np.inf, threshold)
    return first_child, np.where(leaf, 0, slot), threshold, picked["value"].astype(np.float64)


def fast_path(estimator: Any, feature_names: Sequence[str]) -> Proba | None:
    """P(positive class) from a compiled copy of `estimator`, if it is supported and agrees
    exactly with `estimator.predict_proba(DataFrame)` on probe rows; else None."""
    compiled = _compile(estimator)
    if compiled is None:
        return None
    forests, proba = compiled
    if forests[0].width != len(feature_names):  # the estimator's own call will say what's wrong
        return None
    probe = probe_rows(forests, len(feature_names), np.random.default_rng(0))
    if not agrees(proba, estimator, feature_names, probe):
        return None

    def guarded(rows: np.ndarray) -> np.ndarray:
        if np.isinf(rows).any():  # the compiled trees stand +-inf in for NaN: ask the model
            return _slow(estimator, feature_names, rows)
        return proba(rows)

    return guarded


def agrees(proba: Proba, estimator: Any, feature_names: Sequence[str], rows: np.ndarray) -> bool:
    return bool(np.array_equal(proba(rows), _slow(estimator, feature_names, rows)))


def _slow(estimator: Any, feature_names: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """What the estimator itself answers, called as training calls it (with a DataFrame)."""
    frame = pd.DataFrame(rows, columns=list(feature_names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # say, a model fitted on arrays and given names
        return estimator.predict_proba(frame)[:, 1]


def probe_rows(forests: Sequence[Forest], width: int, rng: np.random.Generator) -> np.ndarray:
    """Rows on, just above and just below the split thresholds, with missing values too."""
    rows = np.empty((PROBE_ROWS, width))
    for feature in range(width):
        cuts = np.concatenate([forest.thresholds(feature) for forest in forests])
        cuts = cuts[np.abs(cuts) < HUGE]  # not the stand-ins for +-inf
        cuts = cuts if len(cuts) else np.array([0.0])
        near = np.concatenate([cuts, np.nextafter(cuts, np.inf), np.nextafter(cuts, -np.inf)])
        pool = np.concatenate([near, [np.nan, -HUGE, HUGE, cuts.min() - 1, cuts.max() + 1]])
        rows[:, feature] = rng.choice(pool, PROBE_ROWS)
    return rows


def _compile(estimator: Any) -> tuple[list[Forest], Proba] | None:
    if _is_binary_booster(estimator):
        forest = Forest(estimator)
        loss = estimator._loss
        return [forest], lambda rows: loss.predict_proba(forest.decision(rows)[:, None])[:, 1]
    return _compile_calibrated(estimator)


def _compile_calibrated(estimator: Any) -> tuple[list[Forest], Proba] | None:
    from sklearn.calibration import CalibratedClassifierCV

    if not isinstance(estimator, CalibratedClassifierCV) or len(estimator.classes_) != 2:
        return None
    folds = []
    for fold in estimator.calibrated_classifiers_:
        booster = _unfrozen(fold.estimator)
        if not (
            _is_binary_booster(booster)
            and fold.method in ("sigmoid", "isotonic")
            and len(fold.calibrators) == 1
            and np.array_equal(booster.classes_, fold.classes)
        ):
            return None
        folds.append((Forest(booster), _calibration(fold.calibrators[0])))

    def proba(rows: np.ndarray) -> np.ndarray:
        # CalibratedClassifierCV.predict_proba, column 1: the mean of the folds' calibrated
        # decision functions, each with probabilities a hair above 1 rounded to 1.
        mean = np.zeros(len(rows))
        for forest, calibrate in folds:
            p = calibrate(forest.decision(rows))
            p[(p > 1.0) & (p <= 1.0 + CLIP)] = 1.0
            mean += p
        mean /= len(folds)
        return mean

    return [forest for forest, _ in folds], proba


def _calibration(calibrator: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The calibrator's `predict`; for sigmoid, its formula without the input validation
    that costs more than the formula (the probe check still compares the two)."""
    from scipy.special import expit
    from sklearn.calibration import _SigmoidCalibration

    if type(calibrator) is _SigmoidCalibration:
        a, b = calibrator.a_, calibrator.b_
        return lambda decision: expit(-(a * decision + b))
    return calibrator.predict


def _unfrozen(estimator: Any) -> Any:
    from sklearn.frozen import FrozenEstimator

    return estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator


def _is_binary_booster(estimator: Any) -> bool:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return (
        isinstance(estimator, HistGradientBoostingClassifier)
        and hasattr(estimator, "_predictors")
        and estimator.n_trees_per_iteration_ == 1
        and len(estimator._predictors) > 0
        and not any(p.nodes["is_categorical"].any() for [p] in estimator._predictors)
    )
