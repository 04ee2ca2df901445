"""The drift verdict over streams of periods: a seasonal stream judged against the same weeks
of earlier years raises no alarm, an injected shift in an important feature alarms in the
period it starts, a shift in a feature the model does not rely on is reported but retrains
nothing; and the effect floors with the test give small and large periods comparable verdicts."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy.special import expit
from scipy.stats import chi2

from larder.task import Seasonality
from monitoring import drift
from monitoring.champion import Champion
from monitoring.policy import Evidence, decide
from monitoring.reference import References
from monitoring.settings import PolicySettings
from monitoring.verdict import JUDGED, verdict

NAMES = ["month", "temp", "load", "noise"]
IMPORTANCE = {"month": 0.01, "temp": 0.05, "load": 0.20, "noise": 0.0}
WEEK = timedelta(days=7)
YEAR_START = datetime(2020, 1, 1, tzinfo=UTC)


def rows(start: datetime, days: float, per_day: int, rng, load_shift=0.0, noise_shift=0.0):
    """A seasonal world: temp follows the day of the year, load and noise do not; the month is
    a calendar function of the time. The model's probability reads temp and load."""
    n = int(days * per_day)
    offsets = np.sort(rng.uniform(0, days * 86400, n)) * 1e6
    times = pl.Series("time", np.datetime64(start.replace(tzinfo=None), "us")
                      + offsets.astype("timedelta64[us]")).dt.replace_time_zone("UTC")  # fmt: skip
    day = times.dt.ordinal_day().to_numpy().astype(float)
    frame = pl.DataFrame(
        {
            "month": times.dt.month().cast(pl.Float64),
            "temp": 15 + 10 * np.sin(2 * np.pi * day / 365.25) + rng.normal(0, 3, n),
            "load": rng.normal(load_shift, 1, n),
            "noise": rng.normal(noise_shift, 1, n),
        }
    )
    logit = 0.08 * (frame["temp"].to_numpy() - 15) + frame["load"].to_numpy()
    return frame, pl.Series("probability", expit(logit)), times


def champion(frame, probability, times) -> Champion:
    return Champion(
        version="1", service="s", names=NAMES, importance=IMPORTANCE, test_auc=None,
        reference=frame, reference_probability=probability, reference_time=times,
        since_period=0,
    )  # fmt: skip


def judge(champ, references, begin, frame, probability, share=0.3):
    reference = references.of(champ, begin, begin + WEEK)
    thresholds = replace(JUDGED, min_rows=100)
    found = drift.frame_drift(reference.features, frame, NAMES, thresholds)
    predictions = drift.feature_drift(reference.probability, probability, thresholds, "p")
    references.served(begin, champ.version, frame, probability)
    return verdict(found, predictions, IMPORTANCE, ["month"], reference.probability,
                   probability, share)  # fmt: skip


@pytest.fixture(scope="module")
def history():
    """Five years of training rows, 40 a day."""
    rng = np.random.default_rng(7)
    return champion(*rows(YEAR_START - timedelta(days=5 * 365), 5 * 365, 40, rng))


def test_a_seasonal_year_against_the_same_weeks_raises_no_alarm(history):
    rng = np.random.default_rng(11)
    references = References(Seasonality(calendar=("month",), reference="same_weeks",
                                        window=timedelta(days=14)), WEEK)  # fmt: skip
    found = []
    for week in range(52):
        begin = YEAR_START + week * WEEK
        frame, p, _ = rows(begin, 7, 100, rng)
        found.append(judge(history, references, begin, frame, p))
    assert not any(v.alarm for v in found), [v.reason for v in found if v.alarm]
    # against the training rows of every season, the same stream drifts: temp, and the month
    training = References(Seasonality(calendar=("month",)), WEEK)
    summer, p, _ = rows(YEAR_START + 26 * WEEK, 7, 100, rng)
    naive = judge(history, training, YEAR_START + 26 * WEEK, summer, p)
    assert "temp" in naive.drifted and "month" in naive.calendar_shift
    assert "month" not in naive.drifted and "month" not in naive.judged


def stream(shift_at: int, **shift):
    """Ten weeks judged against the four before each (the recent reference); from week
    `shift_at` on, the shift given."""
    rng = np.random.default_rng(3)
    start = datetime(2021, 3, 1, tzinfo=UTC)
    champ = champion(*rows(start - 8 * WEEK, 56, 100, rng))
    references = References(Seasonality(calendar=("month",), reference="recent", periods=4), WEEK)
    out = []
    for week in range(10):
        begin = start + week * WEEK
        frame, p, _ = rows(begin, 7, 100, rng, **(shift if week >= shift_at else {}))
        out.append(judge(champ, references, begin, frame, p))
    return out


def test_a_shift_in_an_important_feature_alarms_in_its_first_period():
    found = stream(6, load_shift=1.0)
    assert found[0].judged == []  # nothing served before it: not judged
    assert not any(v.alarm for v in found[:6]), [v.reason for v in found[:6] if v.alarm]
    assert found[6].alarm and found[6].drifted[0] == "load" and found[6].predictions_drifted
    assert found[6].weighted > 0.7


def test_a_shift_in_an_unimportant_feature_is_reported_and_retrains_nothing():
    found = stream(6, noise_shift=1.5)
    shifted = found[6]
    assert shifted.drifted == ["noise"] and shifted.weighted == 0.0 and not shifted.alarm
    evidence = Evidence(
        period=6, auc=0.7, baseline_auc=0.7, drift_alarm=shifted.alarm,
        drift_reason=shifted.reason, champion_periods=7, since_retrain=None,
    )  # fmt: skip
    assert not decide(evidence, PolicySettings(schedule_periods=0)).retrain


def test_the_test_holds_back_what_chance_explains_in_a_small_sample():
    """Forty rows of the reference's own distribution: by chance their bins move PSI and JS
    past the floors, and the effect sizes alone would call it drift; the test does not."""
    rng = np.random.default_rng(0)
    reference = pl.Series("x", rng.normal(0, 1, 5_000))
    effect_only = drift.DriftThresholds(min_rows=20, alpha=1.0)
    with_test = drift.DriftThresholds(min_rows=20)
    chance = []
    for seed in range(60):
        current = pl.Series("x", np.random.default_rng(seed).normal(0, 1, 40))
        chance.append((drift.feature_drift(reference, current, effect_only).drifted,
                       drift.feature_drift(reference, current, with_test).drifted))  # fmt: skip
    assert sum(a for a, _ in chance) >= 3  # effect sizes alone flag a same-distribution sample
    assert not any(b for _, b in chance)
    # and a real shift of one standard deviation is flagged at 40 rows as at 4,000
    for n in (40, 4000):
        current = pl.Series("x", np.random.default_rng(n).normal(1, 1, n))
        assert drift.feature_drift(reference, current, with_test).drifted


def test_chi_square_p_is_the_textbook_test_without_empty_bins():
    r, c = np.array([30, 0, 50, 20]), np.array([10, 0, 25, 40])
    table = np.array([[30, 50, 20], [10, 25, 40]], dtype=float)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    statistic = ((table - expected) ** 2 / expected).sum()
    assert drift.chi_square_p(r, c) == pytest.approx(chi2.sf(statistic, 2), rel=1e-9)
    assert drift.chi_square_p(np.array([5, 0]), np.array([7, 0])) == 1.0


def test_a_new_champion_keeps_the_served_features_but_not_their_probabilities():
    rng = np.random.default_rng(5)
    start = datetime(2021, 3, 1, tzinfo=UTC)
    old = champion(*rows(start - 4 * WEEK, 28, 50, rng))
    references = References(Seasonality(reference="recent", periods=2), WEEK)
    for week in range(3):
        frame, p, _ = rows(start + week * WEEK, 7, 50, rng)
        references.served(start + week * WEEK, old.version, frame, p)
    new = champion(old.reference, old.reference_probability, old.reference_time)
    new.version = "2"
    reference = references.of(new, start + 3 * WEEK, start + 4 * WEEK)
    assert reference.features.height == 2 * 7 * 50  # the last two periods served
    assert reference.probability.len() == 0  # served by another model: not its reference
    assert references.of(old, start, start).probability.len() == 2 * 7 * 50
