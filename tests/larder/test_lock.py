"""One writer per data folder: a second writer is refused naming the first, a killed holder
leaves no stale lock, and two real `ingest` runs of one drop ingest it once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from larder.lock import NAME, LockedError, writing
from pipelines import manifest
from tests.conftest import ROOT, new_platform

HOLD = """
import sys, time
from pathlib import Path
from larder.lock import writing
with writing(Path(sys.argv[1]), "holder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(folder: Path, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 60)
    try:
        with pytest.raises(LockedError) as refused, writing(tmp_path, "second", wait=0):
            pass
        said = str(refused.value)
        assert f"process {holder.pid}" in said and "`holder`" in said and str(tmp_path) in said
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with writing(tmp_path, "after", wait=0):
        assert json.loads((tmp_path / NAME).read_text())["pid"] == os.getpid()


def test_a_writer_told_to_wait_gets_the_lock_when_the_holder_ends(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 1.0)
    started = time.monotonic()
    with writing(tmp_path, "patient", wait=30):
        assert time.monotonic() - started > 0.2  # it did wait
    holder.wait()


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path) -> None:
    with writing(tmp_path, "outer", wait=0), writing(tmp_path, "inner", wait=0):
        holder = json.loads((tmp_path / NAME).read_text())
        assert holder["command"] == "outer"
    with writing(tmp_path, "again", wait=0):  # released by the outer block
        pass


def test_a_bad_wait_setting_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LARDER_LOCK_WAIT_S", "soon")
    with pytest.raises(LockedError, match="LARDER_LOCK_WAIT_S='soon'"), writing(tmp_path, "x"):
        pass


def _ingest(settings, **env: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipelines", "ingest", "--landing", str(settings.landing)]
    env = {**os.environ, "TZ": "UTC", "LARDER_FEATURE_REPO": str(settings.feature_repo), **env}
    return subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def test_an_ingest_while_another_job_writes_exits_naming_it_and_writes_nothing(
    tmp_path: Path,
) -> None:
    settings = new_platform(tmp_path)
    holder = _holder(settings.data_dir, 120)
    try:
        run = _ingest(settings)
        assert run.wait(timeout=120) == 1
        said = run.stderr.read()  # type: ignore[union-attr]
        assert f"is being written by process {holder.pid}" in said
        assert "Traceback" not in said and len(said.strip().splitlines()) == 1
        assert not (settings.raw / manifest.NAME).exists()
    finally:
        holder.kill()
        holder.wait()


def test_two_ingests_of_one_drop_at_once_ingest_it_once(tmp_path: Path) -> None:
    settings = new_platform(tmp_path)
    runs = [_ingest(settings, LARDER_LOCK_WAIT_S="300") for _ in range(2)]
    assert [run.wait(timeout=600) for run in runs] == [0, 0]  # one waited for the other
    entries = manifest.load(settings.raw)
    landed = sorted(p.name for p in settings.landing.iterdir() if p.is_file())
    assert sorted(e["file"] for e in entries) == landed  # each file once, none lost
    assert {e["outcome"] for e in entries} == {"ingested"}
