"""The compiled trees answer exactly what the estimator answers through a DataFrame (as training
calls it), on real rows of the fixture; anything they cannot reproduce goes to the estimator."""

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator

from serving.model import FAST_ROWS, Champion
from serving.trees import agrees, fast_path
from training.contract import ModelContract


def booster(features: pd.DataFrame, labels: pd.Series) -> HistGradientBoostingClassifier:
    # Small leaves so that the trees really split on these 300 rows, as on the full year.
    return HistGradientBoostingClassifier(max_iter=60, min_samples_leaf=5, random_state=0).fit(
        features, labels
    )


def as_training_fits(features, labels):
    """Gradient boosting, then sigmoid calibration of the frozen booster (training/fit.py)."""
    frozen = FrozenEstimator(booster(features, labels))
    return CalibratedClassifierCV(frozen, method="sigmoid", ensemble=False).fit(features, labels)


def calibrated_folds(features, labels):
    return CalibratedClassifierCV(booster(features, labels), method="isotonic", cv=3).fit(
        features, labels
    )


def expected(model, rows: np.ndarray, names: list[str]) -> np.ndarray:
    return model.predict_proba(pd.DataFrame(rows, columns=names))[:, 1]


def with_holes(rows: np.ndarray) -> np.ndarray:
    """The same rows with a third of the values missing, as for unknown entities."""
    holes = rows.copy()
    holes[np.random.default_rng(1).random(rows.shape) < 0.3] = np.nan
    return holes


@pytest.mark.parametrize("make", [booster, as_training_fits, calibrated_folds])
def test_the_compiled_model_answers_exactly_what_the_estimator_answers(make, labelled_rows):
    features, labels = labelled_rows
    model, names = make(features, labels), list(features.columns)
    fast = fast_path(model, names)
    assert fast is not None
    rows = features.to_numpy()
    assert np.isnan(rows).any()  # real rows, with the values Feast did not have
    for batch in (rows, with_holes(rows), rows[:1], rows[-1:]):
        assert np.array_equal(fast(batch), expected(model, batch, names))


def test_a_model_the_compiler_does_not_know_has_no_fast_path(labelled_rows) -> None:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    features, labels = labelled_rows
    other = make_pipeline(SimpleImputer(keep_empty_features=True), LogisticRegression())
    assert fast_path(other.fit(features, labels), list(features.columns)) is None


def test_the_trained_champion_is_served_by_the_compiled_trees(client) -> None:
    champion = client.app.state.served.champion
    assert champion.fast is not None


def test_a_compiled_model_that_differs_in_the_last_bit_is_refused(labelled_rows) -> None:
    features, labels = labelled_rows
    model, names = as_training_fits(features, labels), list(features.columns)
    fast = fast_path(model, names)
    rows = features.to_numpy()
    assert agrees(fast, model, names, rows)
    assert not agrees(lambda r: np.nextafter(fast(r), 2.0), model, names, rows)


def test_infinite_values_get_the_estimators_own_answer(labelled_rows) -> None:
    features, labels = labelled_rows
    model, names = as_training_fits(features, labels), list(features.columns)
    rows = features.to_numpy()[:5].copy()
    rows[0, 0], rows[1, 3] = np.inf, -np.inf
    assert np.array_equal(fast_path(model, names)(rows), expected(model, rows, names))


@pytest.mark.parametrize("count", [1, 7, FAST_ROWS + 1])
def test_the_champion_predicts_the_same_with_and_without_the_fast_path(labelled_rows, count):
    features, labels = labelled_rows
    model, names = as_training_fits(features, labels), list(features.columns)
    contract = ModelContract("s", dict.fromkeys(names, "Float64"))
    slow = Champion("m", "1", contract, model)
    quick = Champion("m", "1", contract, model, fast=fast_path(model, names))
    records = features.head(count).to_dict("records")
    records = (records * (count // len(records) + 1))[:count]
    records[0] = {**records[0], names[0]: None, names[1]: None}  # missing, as the store says
    assert quick.predict_many(records) == slow.predict_many(records)
