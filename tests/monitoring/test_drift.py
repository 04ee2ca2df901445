"""Drift statistics against brute-force references (NumPy formulas, SciPy), and the verdicts they
lead to on samples whose drift we know: none, a shifted mean, a missing-share rise, a new category.
"""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from monitoring.bins import histogram
from monitoring.drift import (
    EPSILON,
    DriftThresholds,
    drift_table,
    feature_drift,
    frame_drift,
    js_distance,
    psi,
    reference_scale,
)

N = 5_000
LOOSE = DriftThresholds(min_rows=1)  # for properties over small samples


def normal(mean: float = 0.0, size: int = N, seed: int = 0, name: str = "x") -> pl.Series:
    return pl.Series(name, np.random.default_rng(seed).normal(mean, 1.0, size))


def psi_by_hand(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    r = reference_counts / reference_counts.sum()
    c = current_counts / current_counts.sum()
    r[r == 0] = EPSILON
    c[c == 0] = EPSILON
    return float(((c - r) * np.log(c / r)).sum())


def value_counts(values: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Counts per value in `support`, plus a missing bucket (NaN) at the end."""
    present = values[~np.isnan(values)]
    counts = [(present == v).sum() for v in support]
    return np.array([*counts, np.isnan(values).sum()], dtype=float)


# --- statistics against references ----------------------------------------------------------


def test_psi_matches_hand_formula_on_given_counts():
    reference = np.array([120, 300, 0, 80, 500])
    current = np.array([100, 250, 40, 0, 610])
    assert psi(reference, current) == pytest.approx(psi_by_hand(reference, current))


def test_js_matches_scipy_on_given_counts():
    reference = np.array([120, 300, 0, 80, 500])
    current = np.array([100, 250, 40, 0, 610])
    expected = jensenshannon(reference / 1000, current / 1000, base=2)
    assert js_distance(reference, current) == pytest.approx(expected)


def test_integer_feature_gets_one_bin_per_value_and_matches_references():
    rng = np.random.default_rng(1)
    reference = rng.poisson(2.0, N).astype(float)
    current = rng.poisson(2.6, N).astype(float)
    reference[:200] = np.nan  # missing is its own bin on both sides
    support = np.unique(reference[~np.isnan(reference)])
    assert len(support) <= DriftThresholds().bins
    current = np.clip(current, support.min(), support.max())  # stay inside the value bins
    r, c = value_counts(reference, support), value_counts(current, support)

    result = feature_drift(pl.Series("n", reference), pl.Series("n", current))

    assert result.psi == pytest.approx(psi_by_hand(r, c))
    assert result.js == pytest.approx(jensenshannon(r, c, base=2))


def test_wasserstein_is_scipy_distance_over_reference_std():
    reference, current = normal(), normal(0.3, seed=1)
    expected = wasserstein_distance(reference.to_numpy(), current.to_numpy()) / np.std(
        reference.to_numpy(), ddof=1
    )
    assert feature_drift(reference, current).wasserstein == pytest.approx(expected)


def test_scale_falls_back_to_iqr_then_to_one():
    assert reference_scale(np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)  # the std
    overflowing = np.array([1.0, 2.0, 3.0, 4.0, 1e160])  # the variance overflows, IQR = 4 - 2
    assert reference_scale(overflowing) == pytest.approx(2.0 / 1.349)
    assert reference_scale(np.full(10, 7.0)) == 1.0


# --- verdicts -----------------------------------------------------------------------------


def test_identical_samples_have_zero_drift():
    sample = normal()
    result = feature_drift(sample, sample)
    assert result.psi == pytest.approx(0.0, abs=1e-12)
    assert result.js == pytest.approx(0.0, abs=1e-6)
    assert result.wasserstein == pytest.approx(0.0, abs=1e-12)
    assert not result.drifted
    assert "stable" in result.reason


def test_independent_samples_of_one_distribution_do_not_drift():
    result = feature_drift(normal(seed=0), normal(seed=1))
    assert not result.drifted, result.reason


def test_mean_shifted_by_one_std_drifts():
    result = feature_drift(normal(), normal(1.0, seed=1))
    assert result.drifted
    assert result.psi >= 0.2 and result.js >= 0.1 and result.wasserstein >= 0.1
    assert result.reason.startswith("psi ") and "drifted (3 of 3" in result.reason


def test_tiny_sample_is_not_judged():
    result = feature_drift(normal(), normal(3.0, size=120))
    assert not result.drifted
    assert result.psi is result.js is result.wasserstein is None
    assert result.reason == "not judged: 120 served rows < 500"
    assert result.current_rows == 120


def test_values_beyond_the_reference_range_fall_in_the_last_bin():
    reference = normal()
    far = feature_drift(reference, pl.Series("x", np.full(N, 50.0)))
    at_max = feature_drift(reference, pl.Series("x", np.full(N, reference.max())))
    assert far.psi == pytest.approx(at_max.psi)
    assert far.js == pytest.approx(at_max.js)


def test_rise_in_missing_share_alone_drifts():
    values = normal().to_numpy().copy()
    reference = values.copy()
    reference[: N // 20] = np.nan  # 5 % missing
    current = values.copy()
    current[: N // 5] = np.nan  # 40 % missing: NaN and null both count
    current_series = pl.Series("x", current).fill_nan(None)
    current_series = current_series.scatter(range(N // 5, 2 * N // 5), None)

    result = feature_drift(pl.Series("x", reference), current_series)

    assert result.reference_missing == pytest.approx(0.05)
    assert result.current_missing == pytest.approx(0.4)
    assert result.wasserstein < 0.1  # the values that are there did not move
    assert result.drifted, result.reason


def test_all_missing_side_is_judged_without_wasserstein():
    reference = normal(size=600)
    current = pl.Series("x", [None] * 600, dtype=pl.Float64)
    result = feature_drift(reference, current)
    assert result.wasserstein is None and result.drifted
    assert "no finite served values" in result.reason


def test_new_category_is_its_own_bucket_and_drifts():
    rng = np.random.default_rng(2)
    reference = pl.Series("carrier", rng.choice(["AA", "B6", "UA"], N))
    current = pl.Series("carrier", rng.choice(["AA", "B6", "UA", "WN"], N, p=[0.2, 0.2, 0.2, 0.4]))

    result = feature_drift(reference, current)
    plot = histogram(reference, current)

    assert result.kind == "categorical" and result.wasserstein is None
    assert result.drifted and "2 of 2" in result.reason
    assert plot["labels"] == ["AA", "B6", "UA", "WN", "missing"]
    assert plot["reference"]["counts"][3] == 0
    assert plot["current"]["shares"][3] == pytest.approx(current.eq("WN").mean())


def test_categorical_needs_both_statistics_when_votes_exceed_them():
    rng = np.random.default_rng(3)
    reference = pl.Series("c", rng.choice(["a", "b"], N, p=[0.5, 0.5]))
    current = pl.Series("c", rng.choice(["a", "b"], N, p=[0.8, 0.2]))
    judged = feature_drift(reference, current)
    assert judged.psi >= 0.2 and judged.js >= 0.1 and judged.drifted

    strict_js = feature_drift(reference, current, DriftThresholds(js=0.9, votes=3))
    assert not strict_js.drifted
    assert "1 of 2 over threshold, 2 needed" in strict_js.reason


def test_boolean_features_are_categorical():
    rng = np.random.default_rng(4)
    result = feature_drift(pl.Series("b", rng.random(N) < 0.1), pl.Series("b", rng.random(N) < 0.5))
    assert result.kind == "categorical" and result.drifted


# --- frames, tables, histograms and bad input ---------------------------------------------


def test_frame_drift_and_table_have_one_row_per_feature():
    reference = pl.DataFrame({"a": normal(), "b": normal(seed=1), "c": ["x"] * N})
    current = pl.DataFrame({"a": normal(seed=2), "b": normal(2.0, seed=3), "c": ["x"] * N})[:800]

    table = drift_table(frame_drift(reference, current, ["a", "b", "c"]))

    assert table["feature"].to_list() == ["a", "b", "c"]
    assert table["drifted"].to_list() == [False, True, False]
    assert table["wasserstein"][2] is None
    assert table.schema["psi"] == pl.Float64


def test_table_of_unjudged_and_empty_results():
    unjudged = feature_drift(normal(), normal(size=10))
    assert drift_table([unjudged])["psi"].to_list() == [None]
    assert drift_table([]).columns[0] == "feature"


def test_histogram_shares_shared_reference_edges():
    reference = normal()
    current = pl.concat([normal(0.5, seed=1)[:-1], pl.Series("x", [None])])
    plot = histogram(reference, current, bins=20)
    assert len(plot["edges"]) == 21 and plot["labels"][-1] == "missing"
    assert plot["edges"][0] == reference.min() and plot["edges"][-1] == reference.max()
    for side in ("reference", "current"):
        assert sum(plot[side]["counts"]) == N
        assert sum(plot[side]["shares"]) == pytest.approx(1.0)
    assert plot["current"]["counts"][-1] == 1
    assert plot["current"]["outside_edges"] == int((current > reference.max()).sum()) + int(
        (current < reference.min()).sum()
    )


def test_mismatched_dtypes_name_the_feature_and_both_dtypes():
    with pytest.raises(ValueError, match=r"'dep_delay'.*Float64.*String"):
        feature_drift(normal(), pl.Series("x", ["1.5"] * N), name="dep_delay")


def test_integer_reference_against_float_serving_is_fine():
    ints = pl.Series("n", np.arange(N) % 7)
    assert not feature_drift(ints, ints.cast(pl.Float64)).drifted


def test_missing_feature_in_a_frame_is_named():
    frame = pl.DataFrame({"a": normal()})
    with pytest.raises(ValueError, match=r"\['distance'\] missing from the current frame"):
        frame_drift(frame.with_columns(distance=pl.col("a")), frame, ["a", "distance"])


def test_thresholds_reject_impossible_votes():
    with pytest.raises(ValueError, match="votes"):
        DriftThresholds(votes=4)


# --- properties ---------------------------------------------------------------------------

counts = st.lists(st.integers(0, 1_000), min_size=1, max_size=12).filter(lambda c: sum(c) > 0)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_psi_and_js_are_bounded_and_js_is_symmetric(data):
    reference = np.array(data.draw(counts))
    current = np.array(
        data.draw(
            st.lists(
                st.integers(0, 1_000), min_size=len(reference), max_size=len(reference)
            ).filter(lambda c: sum(c) > 0)
        )
    )
    assert psi(reference, current) >= 0
    assert 0 <= js_distance(reference, current) <= 1
    assert js_distance(reference, current) == pytest.approx(js_distance(current, reference))
    assert psi(reference, reference) == 0


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(finite, st.none(), st.just(float("nan"))), min_size=1, max_size=60))
def test_a_sample_has_no_drift_from_itself(values):
    sample = pl.Series("x", values, dtype=pl.Float64, strict=False)
    result = feature_drift(sample, sample, LOOSE)
    assert result.psi == 0 and result.js == 0 and not result.drifted
    assert result.wasserstein in (0, None)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["AA", "B6", None]), min_size=1, max_size=40),
    st.lists(st.sampled_from(["AA", "WN", None]), min_size=1, max_size=40),
)
def test_categorical_statistics_are_bounded_even_without_categories(reference, current):
    ref, cur = pl.Series("c", reference, dtype=pl.String), pl.Series("c", current, dtype=pl.String)
    result = feature_drift(ref, cur, LOOSE)
    assert result.psi >= 0 and 0 <= result.js <= 1
    assert feature_drift(ref, ref, LOOSE).psi == 0
