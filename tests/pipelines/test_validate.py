"""Validation: bad rows are quarantined with their rule, counts always reconcile."""

from datetime import timedelta

import polars as pl
import pytest

from larder import ROW
from larder.domain import load
from pipelines.checks import share_breach, validate_frame
from pipelines.errors import ContractError
from pipelines.ingest import read_source
from pipelines.validate import validate
from tests.conftest import FIXTURE, table_file
from tests.conftest import FLIGHTS as REPO

SOURCES = load(REPO).sources
FLIGHTS, WEATHER = SOURCES["flights"], SOURCES["weather"]


@pytest.fixture(scope="module")
def references() -> dict[str, pl.DataFrame]:
    return {n: read_source(SOURCES[n], table_file(FIXTURE, n)) for n in ("airlines", "airports")}


@pytest.fixture(scope="module")
def flights() -> pl.DataFrame:
    return read_source(FLIGHTS, table_file(FIXTURE, "flights"))


def test_clean_real_rows_all_pass(flights: pl.DataFrame, references: dict) -> None:
    result = validate_frame(flights, FLIGHTS, references)
    assert result.valid.height == flights.height
    assert result.quarantined.is_empty()


def test_cancelled_flights_without_times_are_valid(flights: pl.DataFrame, references: dict) -> None:
    cancelled = flights.filter(pl.col("dep_time").is_null())
    assert cancelled.height > 0
    assert validate_frame(cancelled, FLIGHTS, references).valid.height == cancelled.height


def test_bad_rows_are_quarantined_with_rule_column_and_value(
    flights: pl.DataFrame, references: dict
) -> None:
    bad = flights.head(4).with_columns(
        distance=pl.Series([-5, 100, 100, 100]),
        carrier=pl.Series(["UA", "ZZ", "UA", "UA"]),
        minute=pl.Series([0, 0, 75, 0]),
    )
    batch = pl.concat([flights, bad.slice(0, 3), flights.head(1)])  # last one: a duplicate key
    result = validate_frame(batch, FLIGHTS, references)
    reasons = {
        (r["rule"], r["column"], r["value"]) for r in result.quarantined.iter_rows(named=True)
    }
    assert ("in_range(1, 6000)", "distance", "-5") in reasons
    assert ("exists_in(airlines.carrier)", "carrier", "ZZ") in reasons
    assert ("in_range(0, 59)", "minute", "75") in reasons
    assert any(rule == "duplicate_key" for rule, _, _ in reasons)
    assert result.valid.height + result.quarantined[ROW].n_unique() == batch.height
    assert result.valid.height == flights.height  # the first copy of a key is kept


def test_a_long_taxi_is_kept_and_counted_as_a_warning(
    flights: pl.DataFrame, references: dict
) -> None:
    """414 minutes gate to gate (a real 2023 flight, air time here 52): unusual, not wrong."""
    first = flights.row(0, named=True)  # EV 4144 EWR to IAD, 06:32 to 07:40, air time 52
    slow = {**first, "day": 8, "time_hour": first["time_hour"] + timedelta(days=7)}
    slow.update(arr_time=1326, arr_delay=358)  # due 07:28, in 5 h 58 min later
    batch = pl.concat([flights, pl.DataFrame([slow], schema=flights.schema)])
    result = validate_frame(batch, FLIGHTS, references)
    assert result.quarantined.is_empty() and result.valid.height == batch.height
    assert result.warned() == {"gate to gate minus air_time <= 300 min": 1}
    assert result.warnings["value"].to_list() == ["414 min gate to gate, air_time 52"]


def test_a_missing_column_rejects_the_batch_naming_it(
    flights: pl.DataFrame, references: dict
) -> None:
    with pytest.raises(ContractError, match="distance"):
        validate_frame(flights.drop("distance"), FLIGHTS, references)


def test_too_many_bad_rows_reject_the_batch(references: dict) -> None:
    weather = read_source(WEATHER, table_file(FIXTURE, "weather"))
    broken = weather.with_columns(humid=pl.lit(150.0))
    said = share_breach(validate_frame(broken, WEATHER, references), max_bad_share=0.05)
    assert said is not None and "in_range" in said


def test_a_rejected_batch_leaves_the_validated_zone_as_it_was(tmp_path, fresh_platform) -> None:
    from tests.conftest import run_stages

    run_stages(fresh_platform, "ingest", "validate")
    zone = fresh_platform.validated
    before = {p: p.read_bytes() for p in zone.rglob("*.parquet")}
    with pytest.raises(ContractError):
        validate(SOURCES, fresh_platform.raw, zone, fresh_platform.quarantine, max_bad_share=-1.0)
    assert {p: p.read_bytes() for p in zone.rglob("*.parquet")} == before
