"""The flights domain's prediction task: two hours before a flight's scheduled departure, the
probability that it arrives more than 15 minutes late or is cancelled (or diverted)."""

from datetime import UTC, datetime

from derivations import PREDICTION_LEAD

from larder import GradientBoosting, RateBy, Replay, Seasonality, Task, TimeSplit

flight_delay = Task(
    name="flight_delay",
    examples="flight_outcomes",
    key=("scheduled_departure", "carrier", "flight"),
    time="scheduled_departure",
    lead=PREDICTION_LEAD,  # the examples' prediction_time is this far before departure
    label="late",
    label_known_at="known_at",
    feature_service="flight_delay_v3",
    categorical=("carrier", "origin", "dest"),
    # train on January-August, calibrate on September-October, report on November-December
    split=TimeSplit(datetime(2013, 9, 1, tzinfo=UTC), datetime(2013, 11, 1, tzinfo=UTC)),
    baseline=RateBy("carrier"),
    model=GradientBoosting(),
    gate_metric="roc_auc",
    answer="delay_probability",
    description=(
        "P(the flight arrives more than 15 minutes late or is cancelled), two hours before its "
        "scheduled departure"
    ),
    # July to December 2013 replayed a day at a time (batches at 03:00 in New York, few in the
    # air); the first champion trains before July, validated on May and tested on June.
    replay=Replay(
        start=datetime(2013, 7, 1, 7, tzinfo=UTC),
        end=datetime(2014, 1, 1, 7, tzinfo=UTC),
        first_validation_start=datetime(2013, 5, 1, tzinfo=UTC),
        first_test_start=datetime(2013, 6, 1, tzinfo=UTC),
    ),
    # One year of data: each week is judged against the weeks just before it (what was served
    # then), not against a training frame of other seasons; the calendar features move with
    # the week by construction.
    seasonality=Seasonality(
        calendar=("dep_month", "dep_weekday", "dep_hour_local"), reference="recent", periods=4
    ),
    limits=(
        "Trained and tested on 2013 departures from the three New York airports only; other "
        "airports, years or schedules are outside what it has seen.",
        "Flights without a known tail number get no aircraft features (missing values), and "
        "unknown carriers or airports likewise; the model still answers, with less to go on.",
        "The prediction is made two hours before scheduled departure: features known later "
        "(the departure delay itself, later weather) are by design not used.",
    ),
)
