"""LightGBM's one-row C API path answers exactly what `Booster.predict` answers, from any
thread; the private names it needs are where LightGBM keeps them in the pinned version."""

from concurrent.futures import ThreadPoolExecutor

import lightgbm
import numpy as np
import pytest

from training.lightgbm_rows import RowMargins


@pytest.fixture(scope="module")
def booster() -> lightgbm.Booster:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 5))
    x[:, 4] = rng.integers(0, 6, size=800)  # a categorical column of codes
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + (x[:, 4] == 2) + rng.normal(size=800) > 0.5).astype(int)
    data = lightgbm.Dataset(x, y, categorical_feature=[4], free_raw_data=False)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 15, "min_data_in_leaf": 5}
    return lightgbm.train(params, data, num_boost_round=60)


def test_the_private_names_it_needs_are_there() -> None:
    from lightgbm import basic

    for name in ("_LIB", "_safe_call", "_c_str"):
        assert hasattr(basic, name), f"lightgbm.basic.{name} moved: see training/lightgbm_rows.py"
    for function in (
        "LGBM_BoosterPredictForMatSingleRowFastInit",
        "LGBM_BoosterPredictForMatSingleRowFast",
        "LGBM_FastConfigFree",
    ):
        assert hasattr(basic._LIB, function), function


def test_margins_equal_booster_predict_exactly(booster) -> None:
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(500, 5)) * 3
    rows[:, 4] = rng.integers(-1, 9, size=500)  # unseen codes included
    rows[rng.random(rows.shape) < 0.2] = np.nan
    fast = RowMargins(booster, 5)
    want = booster.predict(rows, raw_score=True)
    got = np.array([fast.margin(row) for row in rows])
    assert np.array_equal(got, want)


def test_calls_from_many_threads_take_turns(booster) -> None:
    rows = np.random.default_rng(2).normal(size=(2000, 5))
    fast = RowMargins(booster, 5)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(fast.margin, rows))
    assert np.array_equal(np.array(got), booster.predict(rows, raw_score=True))


def test_a_row_of_the_wrong_width_is_refused(booster) -> None:
    with pytest.raises(ValueError, match="a row of 5 values"):
        RowMargins(booster, 5).margin(np.zeros(4))
