"""The replay on the committed slice of real flights, run twice: once on the world as it was and
once on a world whose every row known after a cut time was altered. Whatever the replay did
before the cut (served features and probabilities, the monitoring, the decision and the model
it retrained) must be identical: it never reads the future. After the cut, it must differ.
And the same replay, from its own files, on the storms slice."""

import json
import shutil
import socket
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from larder.domain import load
from monitoring.logs import LogReader
from monitoring.replay import Replay
from monitoring.settings import PolicySettings, ReplaySettings
from monitoring.world import KNOWN, load_world, write_csv
from tests.conftest import FIXTURE, FLIGHTS, SLICES, STORMS

START = datetime(2013, 1, 4, 7, tzinfo=UTC)
CUT = START + timedelta(days=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(base: Path, source: Path) -> ReplaySettings:
    return ReplaySettings(
        feature_repo=FLIGHTS,
        workdir=base / "work",
        reports=base / "reports",
        landing=source,
        start=START,
        end=START + timedelta(days=2),
        period=timedelta(days=1),
        validation_start=datetime(2013, 1, 2, tzinfo=UTC),
        test_start=datetime(2013, 1, 3, tzinfo=UTC),
        recent=timedelta(days=1),
        tune_budget=0,
        drift_min_rows=20,
        skew_sample=50,
        port=free_port(),
        policy=PolicySettings(min_labelled=20, drift_share=0.01, cooldown_periods=2),
    )


def altered(folder: Path) -> Path:
    """The fixture with every flight landing after CUT 90 minutes later, and every weather
    observation after CUT 30 degrees warmer."""
    folder.mkdir()
    for name in ("airlines.csv", "airports.csv", "planes.csv"):
        shutil.copy(FIXTURE / name, folder / name)
    domain = load(FLIGHTS)
    world = load_world(domain, FIXTURE, {})
    later = pl.col(KNOWN) > CUT
    minutes = (pl.col("arr_time") // 100 * 60 + pl.col("arr_time") % 100 + 90) % 1440
    flights = world.tables["flights"].with_columns(
        arr_delay=pl.when(later).then(pl.col("arr_delay") + 90).otherwise(pl.col("arr_delay")),
        arr_time=pl.when(later).then(minutes // 60 * 100 + minutes % 60).otherwise("arr_time"),
    )
    write_csv(flights.select(list(domain.sources["flights"].schema)), folder / "flights.csv")
    with zipfile.ZipFile(folder / "flights.csv.zip", "w") as archive:
        archive.write(folder / "flights.csv", "flights.csv")
    (folder / "flights.csv").unlink()
    warmer = pl.col("time_hour") >= CUT
    weather = world.tables["weather"].with_columns(
        temp=pl.when(warmer).then(pl.col("temp") + 30).otherwise(pl.col("temp"))
    )
    write_csv(weather.select(list(domain.sources["weather"].schema)), folder / "weather.csv")
    return folder


@pytest.fixture(scope="module")
def replays(tmp_path_factory):
    base = tmp_path_factory.mktemp("replay")
    first = settings(base / "as_was", FIXTURE)
    second = settings(base / "altered", altered(base / "world"))
    for s in (first, second):
        Replay(s, say=lambda _: None).run()
    return [(s, json.loads((s.report_dir / "summary.json").read_text())) for s in (first, second)]


def served(s: ReplaySettings, before: datetime | None = None, after: datetime | None = None):
    log = LogReader(s.predictions).read(after, before)
    values = [c for c in log.columns if c.startswith(("value.", "status."))]
    return log.select("prediction_time", "entities", "model_version", "probability", *values).sort(
        "prediction_time", "entities"
    )


def comparable(period: dict) -> dict:
    """A period's summary without what depends on the wall clock or on request ids."""
    skew = {k: v for k, v in period["skew"].items() if k != "examples"}
    timeless = {"seconds": None, "phases": None, "serving": period["serving"]["requests"]}
    return {**period, **timeless, "skew": skew}


def test_the_replay_reports_its_periods_and_decisions(replays):
    s, summary = replays[0]
    headline = summary["headline"]
    assert headline["periods"] == 2 and headline["predictions"] > 0
    assert headline["drift_detections"] >= 1 and headline["retrains"] >= 1
    assert (s.report_dir / "index.html").is_file()
    assert sorted(p.name for p in (s.report_dir / "periods").iterdir()) == [
        "period-01.html", "period-01.json", "period-02.html", "period-02.json",
    ]  # fmt: skip
    decisions = [json.loads(line) for line in (s.journal / "decisions.jsonl").open()]
    assert len(decisions) == 2 and all(d["reasons"] for d in decisions)


def test_nothing_before_the_cut_depends_on_what_became_known_after_it(replays):
    (a, first), (b, second) = replays
    before_a, before_b = served(a, before=CUT), served(b, before=CUT)
    assert before_a.height > 0
    assert before_a.equals(before_b)
    assert comparable(first["periods"][0]) == comparable(second["periods"][0])


def test_what_became_known_after_the_cut_does_reach_the_replay(replays):
    (_, first), (_, second) = replays
    late = [s["periods"][1]["realized"]["positive_rate"] for s in (first, second)]
    assert late[0] != late[1]


def test_the_storms_replay_runs_from_its_own_files(tmp_path):
    """Six days of the 2021 season, a period of three, on the storms slice: drops, pushes of
    each fix, predictions over HTTP, monitoring with labels landing a day later, a retrain."""
    found = SLICES["storms"]
    start = datetime(2021, 9, 1, tzinfo=UTC)
    replay = ReplaySettings(
        feature_repo=STORMS,
        workdir=tmp_path / "work",
        reports=tmp_path / "reports",
        landing=found.data,
        start=start,
        end=start + timedelta(days=6),
        period=timedelta(days=3),
        validation_start=found.validation_start,
        test_start=found.test_start,
        recent=timedelta(days=120),
        tune_budget=0,
        drift_min_rows=10,
        skew_sample=30,
        port=free_port(),
        policy=PolicySettings(min_labelled=10, drift_share=0.01, cooldown_periods=1),
    )
    Replay(replay, say=lambda _: None).run()
    summary = json.loads((replay.report_dir / "summary.json").read_text())
    assert summary["headline"]["periods"] == 2 and summary["headline"]["predictions"] > 20
    periods = summary["periods"]
    assert all(p["serving"]["errors"] == 0 for p in periods)
    assert any(p["realized"]["roc_auc"] is not None for p in periods)
    assert {f["view"] for f in periods[0]["freshness"]} >= {"storm_track", "storm_history"}
    pushed = LogReader(replay.predictions).read()
    assert pushed["status.wind"].eq("present").mean() > 0.9  # the fixes arrive by push
