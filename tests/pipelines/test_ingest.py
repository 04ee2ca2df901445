"""Ingest: typed month partitions in the raw zone, nothing ingested twice."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from larder import UTC_US
from larder.domain import load
from pipelines.errors import IngestError
from pipelines.ingest import ingest, read_source, table_for
from pipelines.readers import ISSUES
from tests.conftest import FIXTURE
from tests.conftest import FLIGHTS as REPO

TABLES = load(REPO).sources
FLIGHTS = TABLES["flights"]


def test_flights_land_as_month_partitions_with_utc_microsecond_times(tmp_path: Path) -> None:
    ingest(FIXTURE, tmp_path, TABLES)
    parts = sorted(p.parent.name for p in (tmp_path / "flights").glob("*/*.parquet"))
    assert parts == ["month=2013-01"]
    frame = pl.read_parquet(tmp_path / "flights" / "month=2013-01")
    assert frame.schema["time_hour"] == UTC_US
    assert frame.height == 367


def test_every_table_keeps_its_rows_and_schema(tmp_path: Path) -> None:
    results = {r.table: r for r in ingest(FIXTURE, tmp_path, TABLES)}
    for name, table in TABLES.items():
        frame = pl.read_parquet(sorted((tmp_path / name).glob("*/*.parquet")))
        assert frame.height == results[name].rows
        assert dict(frame.drop(ISSUES).schema) == dict(table.schema)  # + each row's cast failures
        assert frame[ISSUES].list.len().sum() == 0


def test_a_second_ingest_of_the_same_drop_changes_nothing(tmp_path: Path) -> None:
    ingest(FIXTURE, tmp_path, TABLES)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = ingest(FIXTURE, tmp_path, TABLES)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(r.skipped for r in again)
    assert after == before
    assert len(json.loads((tmp_path / "_manifest.json").read_text())) == len(TABLES)


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    source = tmp_path / "drop"
    shutil.copytree(FIXTURE, source)
    (source / "weather.csv").unlink()
    with pytest.raises(IngestError, match="weather"):
        ingest(source, tmp_path / "raw", TABLES)


def test_an_unreadable_file_is_named_and_leaves_no_trace(tmp_path: Path) -> None:
    bad = tmp_path / "flights.csv.zip"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(IngestError, match="flights.csv.zip"):
        read_source(FLIGHTS, bad)


def test_a_file_feeds_the_table_whose_name_fits_it_longest() -> None:
    flights_of = replace(FLIGHTS, name="flights_of")
    sources = {"flights": FLIGHTS, "flights_of": flights_of, **TABLES}
    assert table_for(Path("flights_of_2013.csv"), sources) is flights_of
    assert table_for(Path("flights-2013-01.parquet"), sources) is FLIGHTS
    assert table_for(Path("flightsx.csv"), sources) is None
    assert table_for(Path("flights_of.txt"), sources) is None
