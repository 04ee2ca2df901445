"""Row-level skew (served against rebuilt offline values, with causes) and the parity check the
replay runs after every materialization, including a deliberately broken one."""

import json
import math
from datetime import timedelta

import polars as pl
import pytest

from monitoring import skew
from pipelines import materialize, parity
from pipelines.errors import PipelineError
from tests.conftest import run_stages
from training.frames import service_schema

SERVICE = "flight_delay_v1"
WEATHER = {"temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure",
           "visib"}  # fmt: skip
LOADED_BEFORE = timedelta(hours=12)
TIMES = ["scheduled_departure"]


@pytest.fixture(scope="module")
def store(platform):
    return materialize.open_store(platform.feature_repo)


def logged(platform, store, rows: int = 60) -> tuple[pl.DataFrame, list[str]]:
    """A prediction log as a server would have written it had its online store been loaded
    12 h before each prediction: values as of then, weather withheld (older than its 3 h ttl)."""
    end = materialize.watermark(platform.offline)
    flights = pl.read_parquet(platform.offline / "flight_outcomes.parquet").filter(
        pl.col("prediction_time").is_between(end - timedelta(days=3), end)
        & pl.col("tailnum").is_not_null()
    )
    flights = flights.sort("prediction_time").head(rows)
    log = pl.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(flights.height)],
            "prediction_time": flights["prediction_time"],
            "entities": [
                json.dumps(
                    {
                        **{k: r[k] for k in ("tailnum", "carrier", "origin")},
                        "scheduled_departure": r["scheduled_departure"].isoformat(),
                        "distance": r["distance"],
                    }
                )
                for r in flights.iter_rows(named=True)
            ],  # fmt: skip
        }
    )
    service = store.get_feature_service(SERVICE)
    names = list(service_schema(service))
    entities = skew.entity_rows(log, lambda t: t - LOADED_BEFORE, TIMES)
    then = skew.offline_values(store, service, entities, "batch_at", names)
    columns = {}
    for n in names:
        stale = n in WEATHER
        withheld = pl.Series([None] * log.height, dtype=pl.Float64)
        columns[f"value.{n}"] = withheld if stale else then[n]
        status = "outside_max_age" if stale else "present"
        columns[f"status.{n}"] = pl.Series([status] * log.height, dtype=pl.String)
    return log.with_columns(**columns), names


def test_served_values_match_the_training_path_or_get_a_named_cause(platform, store):
    log, names = logged(platform, store)
    service = store.get_feature_service(SERVICE)
    entities = skew.entity_rows(log, lambda t: t, TIMES)
    fresh = skew.offline_values(store, service, entities, "event_timestamp", names)
    found = skew.compare(log, store, service, names, lambda t: t - LOADED_BEFORE, TIMES)
    for n in names:
        served = log[f"value.{n}"].to_list()
        differ = sum(not _same(a, b) for a, b in zip(served, fresh[n].to_list(), strict=True))
        assert found.per_feature[n]["mismatches"] == differ, n
        assert skew.UNEXPLAINED not in found.per_feature[n]["causes"], n
    assert found.per_feature["temp"]["causes"].get(skew.TTL, 0) > 0
    loaded_late = sum(found.per_feature[n]["causes"].get(skew.NOT_MATERIALIZED, 0) for n in names)
    assert loaded_late > 0  # aircraft and carrier values moved within the 12 h
    assert 0 < found.rate < 1


def test_a_served_value_nobody_computed_is_unexplained(platform, store):
    log, names = logged(platform, store, rows=10)
    wrong = log["value.carrier_flights_30d"].to_list()
    wrong[3] = 12345.0
    log = log.with_columns(pl.Series("value.carrier_flights_30d", wrong))
    service = store.get_feature_service(SERVICE)
    found = skew.compare(log, store, service, names, lambda t: t - LOADED_BEFORE, TIMES)
    assert found.per_feature["carrier_flights_30d"]["causes"][skew.UNEXPLAINED] == 1
    assert any(e["served"] == 12345.0 for e in found.examples)


def test_parity_passes_on_the_platform_as_materialized(domain_platform):
    store = materialize.open_store(domain_platform.feature_repo)
    end = materialize.watermark(domain_platform.offline)
    entities, mismatches = parity.check(store, end, sample=10_000, seed=0)
    assert entities > 0 and mismatches == []


def test_a_broken_materialization_is_caught(fresh_platform):
    """One view loaded only up to two days before the others: parity at the end must fail."""
    run_stages(fresh_platform, "ingest", "validate", "transform", "apply")
    store = materialize.open_store(fresh_platform.feature_repo)
    end = materialize.watermark(fresh_platform.offline)
    for view in store.list_feature_views():
        upto = end - timedelta(days=2) if view.name == "carrier_performance" else end
        store.materialize(start_date=end - view.ttl, end_date=upto, feature_views=[view.name])
    _, mismatches = parity.check(store, end, sample=10_000, seed=0)
    assert mismatches and {m.feature.split("__")[0] for m in mismatches} == {"carrier_performance"}


def test_materializing_to_an_earlier_time_than_the_online_store_holds_is_refused(platform, store):
    end = materialize.watermark(platform.offline)
    with pytest.raises(PipelineError, match="later time than"):
        materialize.materialize_store(store, end - timedelta(days=1))


def _same(a, b) -> bool:
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    if any(missing):
        return all(missing)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def test_the_replay_marks_only_a_missing_text_join_key_as_missing() -> None:
    from datetime import UTC, datetime

    from monitoring.server import _request
    from training.examples import MISSING_KEY

    at = datetime(2013, 7, 1, 12, tzinfo=UTC)
    row = {"tailnum": None, "note": None, "scheduled_departure": at}
    assert _request(row, {"tailnum"}) == {
        "tailnum": MISSING_KEY,
        "note": None,
        "scheduled_departure": "2013-07-01T12:00:00+00:00",
    }
