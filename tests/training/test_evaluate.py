"""Scores and bootstrap intervals: seeded, paired, and honest about noise."""

import numpy as np
import pytest

from training.evaluate import auc_interval, paired_gain, scores

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 400)
P = np.clip(Y * 0.3 + RNG.uniform(0, 0.7, 400), 0, 1)


def test_same_seed_same_interval_and_the_point_inside():
    s = scores("test", Y, P, seed=1, samples=50)
    assert s == scores("test", Y, P, seed=1, samples=50)
    assert s["test_roc_auc_ci_low"] < s["test_roc_auc"] < s["test_roc_auc_ci_high"]
    assert {"test_pr_auc", "test_log_loss", "test_brier"} <= set(s)


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "log_loss", "brier"])
def test_a_model_against_itself_gains_exactly_nothing(metric):
    gain = paired_gain(Y, P, P, metric, seed=1, samples=50)
    assert gain == {"gain": 0.0, "gain_ci_low": 0.0, "gain_ci_high": 0.0}


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "log_loss", "brier"])
def test_a_clearly_better_model_gains_beyond_the_noise(metric):
    # a gain is positive when the challenger is better, a lower loss included
    gain = paired_gain(Y, P, RNG.uniform(0, 1, 400), metric, seed=1, samples=50)
    assert gain["gain"] > 0 and gain["gain_ci_low"] > 0


def test_interval_narrows_with_more_rows():
    small = np.diff(auc_interval(Y[:50], P[:50], 1, 50))[0]
    assert np.diff(auc_interval(Y, P, 1, 50))[0] < small
