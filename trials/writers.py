"""Two-writer trials: two commands started at once on one data folder, as two users or a cron
job and a user would; then the state checked against a clean run's.

    TZ=UTC .venv/bin/python trials/writers.py [--repeats 2]

Not part of `make test` (tests/larder/test_lock.py holds the cases in the suite). Each pair
runs twice per repeat on a copy of its starting state, the second command started 0-0.3 s after
the first: once as is (the one that finds the lock held must exit 1 naming the holder's process
id; if the first ended before the second looked, both finish), once with LARDER_LOCK_WAIT_S so
the second waits (both must finish). Then whatever was refused runs again, and the data zones
must hold the rows of a clean run that ran the commands one after the other: no row lost, none
twice, each ingested file version recorded once.
"""

import argparse
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["TZ"] = "UTC"
time.tzset()

import pyarrow.parquet as pq  # noqa: E402

from pipelines import manifest  # noqa: E402
from tests.conftest import new_platform  # noqa: E402
from trials.corrupt import COMMANDS, FIXTURE, build, environment  # noqa: E402

# Pairs whose end state does not depend on which goes first (promote refuses, exit 3, when the
# challenger is the champion).
PAIRS = [
    ("ingest", "ingest", "empty"),
    ("ingest", "validate", "ingested"),
    ("validate", "validate", "ingested"),
    ("transform", "materialize", "built"),
    ("materialize", "materialize", "built"),
    ("train", "promote", "built"),
    ("train", "train", "built"),
]
DONE = {"promote": {0, 3}}
ZONES = ("raw", "validated", "quarantine", "offline")


def rows(repo: Path) -> dict[str, int]:
    """Rows per table and zone, and the manifest's entries."""
    data = repo / "data"
    counted = {}
    for zone in ZONES:
        for table in sorted(p for p in (data / zone).glob("*") if p.is_dir()):
            files = list(table.rglob("*.parquet"))
            if files:
                counted[f"{zone}/{table.name}"] = _count(files)
        for single in sorted((data / zone).glob("*.parquet")):
            counted[f"{zone}/{single.name}"] = _count([single])
    entries = manifest.load(data / "raw") if (data / "raw" / manifest.NAME).exists() else []
    counted["manifest entries"] = len(entries)
    counted["manifest versions"] = len({e["sha256"] for e in entries})
    mlflow_db = data / "mlflow" / "mlflow.db"
    if mlflow_db.exists():
        with closing(sqlite3.connect(mlflow_db)) as db:
            counted["model versions"] = db.execute(
                "select count(*) from model_versions"
            ).fetchone()[0]
    return counted


def _count(files: list[Path]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def differences(expected: dict[str, int], found: dict[str, int]) -> dict[str, tuple]:
    keys = expected.keys() | found.keys()
    return {k: (expected.get(k), found.get(k)) for k in keys if expected.get(k) != found.get(k)}


def start(repo: Path, command: str, wait: bool) -> subprocess.Popen:
    env = environment(repo)
    if wait:
        env["LARDER_LOCK_WAIT_S"] = "900"
    return subprocess.Popen(
        [sys.executable, "-m", *COMMANDS[command]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--repeats", type=int, default=2)
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args()
    chance = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="larder-writers-"))
    began = time.monotonic()
    states = {"built": build(base / "built")}
    states["empty"] = new_platform(base / "empty", FIXTURE).feature_repo
    states["ingested"] = new_platform(base / "ingested", FIXTURE).feature_repo
    for repo, command in [(states["ingested"], "ingest")]:
        assert start(repo, command, False).wait() == 0
    tally: Counter[tuple[str, str]] = Counter()
    failures = []
    for first, second, origin in PAIRS:
        pair = f"{first} + {second}"
        clean = base / f"clean-{first}-{second}" / "feature_repo"
        shutil.copytree(states[origin], clean)
        for command in (first, second):
            if start(clean, command, False).wait() not in DONE.get(command, {0}):
                raise SystemExit(f"the clean run of {command} failed on {clean}")
        expected = rows(clean)
        for trial in range(args.repeats * 2):
            wait = trial % 2 == 1
            repo = base / f"{first}-{second}-{trial}" / "feature_repo"
            shutil.copytree(states[origin], repo)
            one = start(repo, first, wait)
            time.sleep(chance.uniform(0, 0.3))
            two = start(repo, second, wait)
            codes = [one.wait(timeout=900), two.wait(timeout=900)]
            errs = [one.stderr.read(), two.stderr.read()]  # type: ignore[union-attr]
            tally[(pair, "trials")] += 1
            why = None
            names = (first, second)
            refused = [i for i, code in enumerate(codes) if code not in DONE.get(names[i], {0})]
            for i in refused:
                other = (one, two)[1 - i].pid
                if wait or not re.search(rf"is being written by process {other}\b", errs[i]):
                    why = f"{(first, second)[i]} exited {codes[i]}: {errs[i].strip()[-300:]}"
            if refused:
                tally[(pair, "refused")] += 1
            for i in refused:  # the user runs it again once the other has finished
                if start(repo, names[i], False).wait() not in DONE.get(names[i], {0}):
                    why = why or f"re-running {(first, second)[i]} failed"
            found = rows(repo)
            zoned = {k: n for k, n in expected.items() if "manifest" not in k}
            lost = sum(max(0, n - found.get(k, 0)) for k, n in zoned.items())
            tally[(pair, "rows lost")] += lost
            if found != expected:
                why = why or f"the zones differ from a clean run's: {differences(expected, found)}"
            mode = "waiting" if wait else "refusing"
            if why:
                tally[(pair, "failures")] += 1
                failures.append(f"{pair} (trial {trial}, {mode}): {why}")
            print(f"  {pair}, {mode}: exits {codes}, lost {lost}{': ' + why if why else ''}")
            shutil.rmtree(repo.parent)
    print()
    print("| commands at once | trials | one refused | failures | rows lost |")
    print("|---|---:|---:|---:|---:|")
    for first, second, _ in PAIRS:
        pair = f"{first} + {second}"
        print(
            f"| {pair} | {tally[(pair, 'trials')]} | {tally[(pair, 'refused')]} | "
            f"{tally[(pair, 'failures')]} | {tally[(pair, 'rows lost')]} |"
        )
    print(f"\n{time.monotonic() - began:.0f} s in all")
    for failure in failures:
        print("FAILED", failure)
    shutil.rmtree(base)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
