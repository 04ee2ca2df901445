"""The logged model's own encoding: categories to codes and back, the same answer for a frame
and for dict rows, unseen categories read as missing, and a save/load that changes nothing."""

import numpy as np
import pandas as pd
import pytest

from larder import GradientBoosting
from training.booster import CalibratedBooster, Encoding
from training.tune import model


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "delay": rng.normal(size=n),
            "gap": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "carrier": rng.choice(["AA", "B6", "DL", "UA"], size=n).astype(object),
        }
    )
    frame.loc[rng.random(n) < 0.1, "carrier"] = None
    logit = frame["delay"] + (frame["carrier"] == "B6") * 2.0
    return frame, pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int))


@pytest.fixture(scope="module")
def fitted(data) -> CalibratedBooster:
    from training.booster import fit

    frame, y = data
    encoding = Encoding.learn(frame, ["delay", "gap", "carrier"], ())
    trees = model(GradientBoosting(), {"n_estimators": 30, "min_child_samples": 10}, 0, len(frame))
    return fit(trees, encoding, frame[:400], y[:400], frame[400:], y[400:])


def test_strings_are_categories_with_sorted_codes(data, fitted) -> None:
    assert fitted.categories == {"carrier": ["AA", "B6", "DL", "UA"]}
    matrix = fitted.encoding.encode(
        pd.DataFrame({"delay": [0.0], "gap": [None], "carrier": ["DL"]})
    )
    assert matrix[0, 2] == 2.0 and np.isnan(matrix[0, 1])


def test_the_model_uses_the_category(data, fitted) -> None:
    frame, _ = data
    rows = frame.head(50)
    b6 = fitted.predict_proba(rows.assign(carrier="B6"))[:, 1]
    aa = fitted.predict_proba(rows.assign(carrier="AA"))[:, 1]
    assert (b6 > aa).mean() > 0.9


def test_dict_rows_answer_what_the_frame_answers(data, fitted) -> None:
    frame, _ = data
    rows = [
        {k: (None if v is None or v != v else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    matrix, unseen = fitted.encoding.encode_rows(rows)
    assert unseen == []
    np.testing.assert_array_equal(fitted.proba(matrix), fitted.predict_proba(frame)[:, 1])


def test_an_unseen_category_is_read_as_missing_and_named(fitted) -> None:
    row = {"delay": 0.5, "gap": 1.0}
    matrix, unseen = fitted.encoding.encode_rows(
        [{**row, "carrier": "ZZ"}, {**row, "carrier": None}]
    )
    assert unseen == ["carrier"]
    assert fitted.proba(matrix)[0] == fitted.proba(matrix)[1]
    frame = pd.DataFrame([{**row, "carrier": "ZZ"}])
    assert fitted.encoding.unseen(frame) == {"carrier": 1}


def test_a_saved_model_answers_exactly_the_same(tmp_path, data, fitted) -> None:
    import skops.io

    frame, _ = data
    path = tmp_path / "model.skops"
    skops.io.dump(fitted, path)
    back = skops.io.load(path, trusted=["training.booster.CalibratedBooster"])
    np.testing.assert_array_equal(back.predict_proba(frame), fitted.predict_proba(frame))
    assert back.categories == fitted.categories and back.inputs == fitted.inputs


def test_a_probability_is_the_sigmoid_of_the_margin(data, fitted) -> None:
    frame, _ = data
    matrix = fitted.encoding.encode(frame)
    margin = fitted.margin(matrix)
    expected = 1 / (1 + np.exp(-(fitted.slope * margin + fitted.intercept)))
    np.testing.assert_allclose(fitted.proba(matrix), expected, rtol=1e-12)
