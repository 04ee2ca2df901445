"""Row-level skew (served against rebuilt offline values, with causes) and the parity check the
replay runs after every materialization, including a deliberately broken one."""

import json
import math
from datetime import timedelta

import polars as pl
import pytest

from monitoring import skew
from monitoring.errors import ParityError
from monitoring.platform import check_parity
from pipelines import __main__ as stages
from pipelines import materialize
from pipelines.errors import PipelineError
from training.frames import service_schema

SERVICE = "flight_delay_v1"
WEATHER = {"temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure",
           "visib"}  # fmt: skip
LOADED_BEFORE = timedelta(hours=12)


@pytest.fixture(scope="module")
def store(platform):
    return materialize.open_store(platform.feature_repo)


def logged(platform, store, rows: int = 60) -> tuple[pl.DataFrame, list[str]]:
    """A prediction log as a server would have written it had its online store been loaded
    12 h before each prediction: values as of then, weather withheld (older than its 3 h ttl)."""
    end = materialize.watermark(platform.offline)
    flights = pl.read_parquet(platform.offline / "flights.parquet").filter(
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
                        **{k: r[k] for k in ("tailnum", "carrier", "origin", "dest")},
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
    entities = skew.entity_rows(log, lambda t: t - LOADED_BEFORE)
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
    entities = skew.entity_rows(log, lambda t: t)
    fresh = skew.offline_values(store, service, entities, "event_timestamp", names)
    found = skew.compare(log, store, service, names, lambda t: t - LOADED_BEFORE)
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
    found = skew.compare(log, store, service, names, lambda t: t - LOADED_BEFORE)
    assert found.per_feature["carrier_flights_30d"]["causes"][skew.UNEXPLAINED] == 1
    assert any(e["served"] == 12345.0 for e in found.examples)


def test_parity_passes_on_the_platform_as_materialized(platform, store):
    end = materialize.watermark(platform.offline)
    entities, mismatches = check_parity(store, platform, end, sample=10_000, seed=0)
    assert entities > 0 and mismatches == 0


def test_a_broken_materialization_is_caught(fresh_platform):
    """One view loaded only up to two days before the others: parity at the end must fail."""
    for stage in ("ingest", "validate", "transform", "apply"):
        stages.STAGES[stage](fresh_platform)
    store = materialize.open_store(fresh_platform.feature_repo)
    end = materialize.watermark(fresh_platform.offline)
    for view in store.list_feature_views():
        upto = end - timedelta(days=2) if view.name == "carrier_performance" else end
        store.materialize(start_date=end - view.ttl, end_date=upto, feature_views=[view.name])
    with pytest.raises(ParityError, match="differ from the offline store") as caught:
        check_parity(store, fresh_platform, end, sample=10_000, seed=0)
    assert "carrier" in str(caught.value)


def test_materializing_to_an_earlier_time_than_the_online_store_holds_is_refused(platform, store):
    end = materialize.watermark(platform.offline)
    with pytest.raises(PipelineError, match="later time than"):
        materialize.materialize_store(store, end - timedelta(days=1))


def _same(a, b) -> bool:
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    if any(missing):
        return all(missing)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
