"""Training frames through Feast see only feature rows known at or before the prediction time,
within the view's ttl: one example computed by hand, then every fixture flight against a
brute-force reference over the offline tables."""

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import polars as pl
import pytest

from pipelines.settings import PipelineSettings
from training.examples import MISSING_KEY

VIEWS = {  # view -> (join key, ttl), as declared in feature_repo/views.py
    "aircraft_history": ("tailnum", timedelta(days=7)),
    "carrier_performance": ("carrier", timedelta(days=30)),
    "origin_weather": ("origin", timedelta(hours=3)),
}


@pytest.fixture(scope="module")
def store(platform: PipelineSettings):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(platform.feature_repo))


def _historical(store, entities: pd.DataFrame) -> pd.DataFrame:
    service = store.get_feature_service("flight_delay_v1")
    frame = store.get_historical_features(entity_df=entities, features=service).to_df()
    return frame.sort_values("row").reset_index(drop=True)


def test_hand_computed_aircraft_history(store) -> None:
    # N14542's flights landed (UTC, arrival delay): 01-01 15:43 (-7), 01-01 20:04 (+11),
    # 01-02 14:32 (+12), 01-02 19:53 (+25). At 01-02 20:14, 24 h back is 01-01 20:14, so the
    # +11 landing falls 10 minutes outside the 24 h window and inside the 7 day one.
    t = datetime(2013, 1, 2, 20, 14, tzinfo=UTC)
    entities = pd.DataFrame(
        {
            "row": [0],
            "tailnum": ["N14542"],
            "carrier": ["EV"],
            "origin": ["EWR"],
            "event_timestamp": [t],
            "scheduled_departure": [t + timedelta(hours=2)],
            "distance": [199],
        }
    )
    got = _historical(store, entities).iloc[0]
    assert (got.flights_24h, got.mean_arr_delay_24h, got.late_share_24h) == (2, 18.5, 0.5)
    assert (got.flights_7d, got.mean_arr_delay_7d, got.late_share_7d) == (4, 10.25, 0.25)
    assert (got.dep_hour_local, got.dep_weekday, got.distance_miles) == (17, 2, 199.0)


def _reference(table: pl.DataFrame, key: str, ttl: timedelta, value, t: datetime) -> dict | None:
    """The latest row of `key` with t - ttl <= timestamp <= t, by a plain scan."""
    best = None
    for row in table.iter_rows(named=True):
        ts = row["event_timestamp"]
        if (
            row[key] == value
            and t - ttl <= ts <= t
            and (best is None or ts > best["event_timestamp"])
        ):
            best = row
    return best


def _same(a, b) -> bool:
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    return (missing(a) and missing(b)) or a == b


def test_every_fixture_flight_matches_the_brute_force_reference(store, platform) -> None:
    flights = pl.read_parquet(platform.offline / "flight_outcomes.parquet").with_row_index("row")
    entities = flights.select(
        pl.col("row").cast(pl.Int64),
        pl.col("tailnum").fill_null(MISSING_KEY),
        "carrier",
        "origin",
        pl.col("prediction_time").alias("event_timestamp"),
        "scheduled_departure",
        "distance",
    ).to_pandas()
    frame = _historical(store, entities)
    assert len(frame) == len(entities)
    for view, (key, ttl) in VIEWS.items():
        table = pl.read_parquet(platform.offline / f"{view}.parquet")
        features = [c for c in table.columns if c not in (key, "event_timestamp")]
        for got in frame.itertuples():
            ref = _reference(table, key, ttl, getattr(got, key), got.event_timestamp)
            for name in features:
                want = ref[name] if ref else None
                assert _same(getattr(got, name), want), (view, got.row, name)
