"""The feature jobs over months: a run over one new month writes byte for byte the offline
store a full recompute writes, a backfill is idempotent, and a changed month reaches only the
months its windows can change."""

from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from larder.derive import Derivation
from larder.domain import load
from pipelines import jobs, stages
from pipelines.errors import PipelineError
from tests.conftest import FLIGHTS
from tests.pipelines.feature_platform import feature_platform, sample_frames, write_validated

MONTHS_2013 = [f"2013-{m:02d}" for m in range(1, 13)]


@pytest.fixture(scope="module")
def jan_to_may(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    """January to May 2013 for 30 aircraft (every flight of theirs), from the package."""
    frames = sample_frames(FLIGHTS, tmp_path_factory.mktemp("sample"))
    flights = frames["flights"].filter(pl.col("month") <= 5)
    aircraft = flights["tailnum"].drop_nulls().unique().sort().gather_every(100)[:30]
    frames["flights"] = flights.filter(pl.col("tailnum").is_in(aircraft.implode()))
    frames["weather"] = frames["weather"].filter(pl.col("month") <= 5)
    return frames


def _only(frames: dict[str, pl.DataFrame], months: int) -> dict[str, pl.DataFrame]:
    monthly = {"flights", "weather"}
    return {
        n: f.filter(pl.col("month") <= months) if n in monthly else f for n, f in frames.items()
    }


def _snapshot(offline: Path) -> dict[str, bytes]:
    return {str(p.relative_to(offline)): p.read_bytes() for p in sorted(offline.rglob("*.*"))}


def test_one_new_month_incremental_equals_full_recompute_byte_for_byte(tmp_path, jan_to_may):
    full = feature_platform(tmp_path / "full", jan_to_may)
    stages.transform(full)

    step = feature_platform(tmp_path / "step", _only(jan_to_may, 4))
    stages.transform(step)
    write_validated(step, {"flights": jan_to_may["flights"], "weather": jan_to_may["weather"]})
    stages.transform(step, ["2013-05"])  # reads February to May, rewrites April to July

    want, got = _snapshot(full.offline), _snapshot(step.offline)
    assert sorted(got) == sorted(want)
    assert [name for name in want if got[name] != want[name]] == []
    assert pl.read_parquet(step.offline / "aircraft_today.parquet").height > 0

    stages.backfill(step, date(2013, 2, 10), date(2013, 3, 1))
    assert _snapshot(step.offline) == want  # idempotent


def test_a_changed_month_reaches_its_windows_and_reads_what_they_need() -> None:
    todo = jobs.plan(MONTHS_2013, ["2013-07"], timedelta(days=30), timedelta(days=2))
    # a day before July (early take-offs, UTC) to 30 days + 2 after it
    assert todo.outputs == ["2013-06", "2013-07", "2013-08", "2013-09"]
    # from 30 days + 2 before June to 2 days after September
    assert todo.inputs == [f"2013-{m:02d}" for m in range(4, 11)]
    assert not todo.full
    assert jobs.plan(MONTHS_2013, None, timedelta(days=30), timedelta(days=2)).full


def test_the_reach_of_a_chain_of_derivations_is_their_sum() -> None:
    def step(name: str, reach: int, *inputs: str) -> Derivation:
        return Derivation(name, lambda **frames: pl.LazyFrame(), inputs, timedelta(days=reach))

    chain = [step("legs", 2, "flights"), step("turns", 3, "legs"), step("examples", 14, "turns")]
    apart = step("weather_hours", 20, "weather")
    domain = SimpleNamespace(derivations={d.name: d for d in [*chain, apart]})
    assert jobs.reach(domain) == timedelta(days=20)
    chain.append(step("later", 4, "examples", "weather_hours"))
    domain.derivations = {d.name: d for d in [*chain, apart]}
    assert jobs.reach(domain) == timedelta(days=24)
    assert jobs.reach(load(FLIGHTS)) == timedelta(days=2)


def test_months_without_validated_data_are_refused() -> None:
    with pytest.raises(PipelineError, match="ingest and validate"):
        jobs.plan(["2013-01"], ["2013-02"], timedelta(days=30), timedelta(days=2))
    with pytest.raises(ValueError):
        jobs.parse_months("2013-7x")
    assert jobs.parse_months("2013-07, 2013-08") == ["2013-07", "2013-08"]
