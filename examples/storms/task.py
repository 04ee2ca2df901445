"""The storms domain's prediction task: at a storm's fix, the probability that it blows at
hurricane strength (maximum sustained wind of at least 64 knots) 24 hours later.

Split by season: train on 1975-2014, calibrate on 2015-2018, report on 2019-2022.
"""

from datetime import UTC, datetime, timedelta

from larder import GradientBoosting, RateBy, Replay, Seasonality, Task, TimeSplit

hurricane_24h = Task(
    name="hurricane_24h",
    examples="storm_examples",
    key=("name", "year", "observed_at"),
    time="observed_at",
    label="hurricane_24h",
    label_known_at="label_known_at",
    feature_service="hurricane_24h_v1",
    split=TimeSplit(datetime(2015, 1, 1, tzinfo=UTC), datetime(2019, 1, 1, tzinfo=UTC)),
    # the rate per status now (tropical storm, hurricane, ...): persistence, calibrated
    baseline=RateBy("status"),
    model=GradientBoosting(
        defaults={
            "learning_rate": 0.05,
            "n_estimators": 200,
            "num_leaves": 15,
            "min_child_samples": 40,
            "reg_lambda": 1.0,
        },
        space={
            "learning_rate": [0.03, 0.05, 0.1],
            "n_estimators": [100, 200, 400],
            "num_leaves": [7, 15, 31],
            "min_child_samples": [20, 40, 80],
            "reg_lambda": [0.0, 1.0, 10.0],
        },
    ),
    answer="hurricane_probability",
    holdout=timedelta(days=365),  # a season: the storms of a month or two are too few
    description=(
        "P(the storm blows at hurricane strength, a maximum sustained wind of at least 64 "
        "knots, 24 hours after this fix)"
    ),
    # The 2021 and 2022 seasons replayed a day at a time, judged every four weeks; the first
    # champion trains on 1975-2016, is calibrated on 2017-2018 and tested on 2019-2020.
    replay=Replay(
        start=datetime(2021, 5, 1, tzinfo=UTC),
        end=datetime(2022, 12, 1, tzinfo=UTC),
        first_validation_start=datetime(2017, 1, 1, tzinfo=UTC),
        first_test_start=datetime(2019, 1, 1, tzinfo=UTC),
        period=timedelta(days=28),
        recent=timedelta(days=365),
        min_rows=100,
    ),
    # Decades of seasons: each period is judged against the training fixes of the same weeks
    # of the year (a September is busier and stronger than a June in every year).
    seasonality=Seasonality(calendar=("month",), reference="same_weeks", window=timedelta(days=28)),
    limits=(
        "Trained on the North Atlantic's best-track data (reanalysed after each season): "
        "operational fixes, made in real time, are noisier.",
        "Other basins (the Pacific's typhoons) are outside what it has seen.",
    ),
)
