"""Kill trials: real CLI processes killed with SIGKILL at random moments, the state checked after
each kill, then the command run again and checked to finish where a clean run finishes.

    TZ=UTC .venv/bin/python trials/kill.py [--trials 10] [--seed 0] [--only train,promote]

Not part of `make test`: it takes minutes. It builds copies of the small flights platform of
the test suite (tests/fixtures/flights_jan, with tests/conftest.py's helpers) in a temporary
folder, one per starting state, and runs each trial on a copy of its command's:

    ingest       from nothing run                  python -m pipelines ingest
    validate     from ingested                     python -m pipelines validate
    materialize  from transformed and applied      python -m pipelines materialize
    train        from materialized, no model, and  python -m training train
                 from a champion and a challenger
    promote      from a weak champion and a        python -m training promote (the gate passes:
                 better challenger                 the alias moves)

Each command first runs once to the end from its starting state, timed: the clean run. A trial
kills it at a uniform random moment between the end of its imports (timed apart: before then
it has done nothing) and the end of a clean run, then checks:

    files        every data file (raw, validated, quarantine, offline) parses, and holds what
                 it holds before the command or after the clean run: no half file, no stray row
    rows lost    rows there before the command that are gone after the kill, plus rows of the
                 clean run missing after the re-run
    state        JSON state files parse; the Feast registry parses; the online store passes
                 SQLite's check; the MLflow store passes it; every registered version is whole
                 (contract, closed run, a model that loads); the champion loads; no alias move
                 without its decision on record, no decision on record twice
    re-run       the command, run again, exits 0 and ends where a clean run ends: the same data
                 files and online rows, every decision done, the same champion moves on record
                 (each once), the champion the last decision names, no training run left open

and prints one table: trials, kills that landed (the rest found the command finished), failures
and rows lost per command. A failing trial says why and keeps its folder (--keep keeps all).
"""

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, the repo's packages (and tests/) importable
os.environ["TZ"] = "UTC"
time.tzset()

import polars as pl  # noqa: E402

from larder import state  # noqa: E402
from pipelines import manifest  # noqa: E402
from pipelines.settings import PipelineSettings  # noqa: E402
from tests.conftest import FIXTURE, SLICES, new_platform, run_stages  # noqa: E402
from tests.training import test_crash as crash  # noqa: E402
from tests.training.conftest import slice_settings  # noqa: E402
from training import promote, registry  # noqa: E402
from training.settings import TrainingSettings  # noqa: E402
from training.train import train  # noqa: E402

ZONES = ("raw", "validated", "quarantine", "offline")
MODEL = "flights_trials"  # the registered model of the trials' MLflow stores


@dataclass(frozen=True)
class Command:
    name: str
    argv: tuple[str, ...]  # after `python -m`
    starts: tuple[str, ...]  # the starting states, taken in turn
    done: tuple[int, ...] = (0,)  # exit statuses of a re-run that did its job


COMMANDS = [
    Command("ingest", ("pipelines", "ingest"), ("fresh",)),
    Command("validate", ("pipelines", "validate"), ("ingested",)),
    Command("materialize", ("pipelines", "materialize"), ("applied",)),
    Command("train", ("training", "train"), ("materialized", "contest")),
    # 3, refused: after a kill that came once the decision was done, the re-run is a second
    # promotion and says "already the champion" (the moves on record are checked apart)
    Command("promote", ("training", "promote"), ("contest",), (0, 3)),
]


@dataclass
class Snapshot:
    """What a platform folder holds, as the checks compare it."""

    files: dict[str, Counter]  # data file -> its rows (hashes); unreadable files absent
    problems: list[str]
    online: dict[str, int]  # online store table -> rows
    champion: str | None
    challenger: str | None
    versions: list[str]
    decisions: list[tuple[str, str, str, str, str]]  # decision, state, status, before, after
    running: int = 0  # training runs left RUNNING


@dataclass
class Tally:
    trials: int = 0
    landed: int = 0
    failures: int = 0
    rows_lost: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


# --- the platforms ----------------------------------------------------------------------------


def training_settings(repo: Path) -> TrainingSettings:
    return slice_settings(PipelineSettings(feature_repo=repo), feature_repo=repo, model_name=MODEL)


def build_starts(work: Path) -> dict[str, Path]:
    """Each starting state once, as a platform folder; in-process, with the suite's helpers."""
    starts: dict[str, Path] = {}
    settings = new_platform(work / "fresh", FIXTURE)
    starts["fresh"] = settings.feature_repo
    for name, stages in [
        ("ingested", ["ingest"]),
        ("applied", ["validate", "transform", "apply"]),
        ("materialized", ["materialize"]),
    ]:
        settings = _next(settings, work / name)
        run_stages(settings, *stages)
        starts[name] = settings.feature_repo
    contest = _next(settings, work / "contest")
    trained = training_settings(contest.feature_repo)
    crash.register_weak(trained)
    promote.promote(trained)  # the weak version is the first champion
    train(trained)  # a better challenger (tuned a little: the gate passes it)
    starts["contest"] = contest.feature_repo
    return starts


def _next(settings: PipelineSettings, base: Path) -> PipelineSettings:
    copy = base / settings.feature_repo.name
    shutil.copytree(settings.feature_repo, copy)
    return PipelineSettings(feature_repo=copy, landing=settings.landing)


# --- running and killing ----------------------------------------------------------------------


def environment(repo: Path) -> dict[str, str]:
    split = SLICES["flights"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LARDER_", "MLFLOW_"))}
    return env | {
        "TZ": "UTC",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
        "LARDER_FEATURE_REPO": str(repo),
        "LARDER_LANDING": str(FIXTURE),
        "LARDER_MODEL_NAME": MODEL,
        "LARDER_VALIDATION_START": split.validation_start.isoformat(),
        "LARDER_TEST_START": split.test_start.isoformat(),
        "LARDER_TUNE_BUDGET": "0",
        "LARDER_BOOTSTRAP_SAMPLES": "50",
        # the trials are about kills, not the gate: a loaded machine must not refuse the move
        "LARDER_LATENCY_BUDGET_MS": "10000",
    }


def start(command: Command, repo: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *command.argv],
            env=environment(repo),
            cwd=repo.parent,  # anything written to the working dir stays in the trial's folder
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run(command: Command, repo: Path, log: Path) -> tuple[int, float]:
    began = time.perf_counter()
    code = start(command, repo, log).wait(timeout=600)
    return code, time.perf_counter() - began


def kill_after(command: Command, repo: Path, log: Path, seconds: float) -> bool:
    """Whether the kill landed (False: the command had already finished)."""
    process = start(command, repo, log)
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


# --- what a platform holds --------------------------------------------------------------------


def snapshot(repo: Path) -> Snapshot:
    problems: list[str] = []
    data = repo / "data"
    files = _files(data, problems)
    _check(problems, "manifest", lambda: manifest.load(data / "raw"))
    for path in _json_files(data):
        _check(problems, str(path.relative_to(data)), partial(_read_json, path))
    registry = state.registry_path(repo)
    if registry is not None and registry.exists():
        _check(problems, "Feast registry", lambda: state.check_registry(repo))
    _check(problems, "online store", lambda: state.check_online_store(repo, must_exist=False))
    snap = Snapshot(files, problems, _online(repo), None, None, [], [])
    if (data / "mlflow" / "mlflow.db").exists():
        _check(problems, "MLflow", lambda: _mlflow(training_settings(repo), snap))
    return snap


def _files(data: Path, problems: list[str]) -> dict[str, Counter]:
    files = {}
    for zone in ZONES:
        for path in sorted((data / zone).rglob("*.parquet")):
            name = str(path.relative_to(data))
            if any(part.startswith(".") for part in path.relative_to(data).parts):
                continue  # temporary names and staging: never read by a stage
            try:
                files[name] = Counter(pl.read_parquet(path).hash_rows().to_list())
            except Exception as exc:  # a half-written file: the failure this trial looks for
                problems.append(f"{name} does not parse: {exc}")
    return files


def _read_json(path: Path) -> object:
    return json.loads(path.read_bytes())


def _json_files(data: Path) -> list[Path]:
    found = [p for p in data.rglob("*.json") if "mlflow" not in p.relative_to(data).parts[0]]
    return [p for p in found if not any(s.startswith(".") for s in p.relative_to(data).parts)]


def _online(repo: Path) -> dict[str, int]:
    path = state.online_path(repo)
    if path is None or not path.exists():
        return {}
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _mlflow(settings: TrainingSettings, snap: Snapshot) -> None:
    problems = snap.problems
    _check(problems, "MLflow store", lambda: state.check_mlflow(settings.tracking_uri))
    try:
        snap.versions = crash.whole_versions(settings)
    except Exception as exc:
        problems.append(f"a registered version is not whole: {type(exc).__name__}: {exc}")
    aliases = crash.aliases(settings)
    snap.champion, snap.challenger = aliases.get("champion"), aliases.get("challenger")
    if snap.champion is not None:
        _check(problems, "champion", lambda: crash.champion_loads(settings))
    snap.decisions = decisions(settings)
    client = registry.client(settings)
    experiment = client.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        running = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
        snap.running = len(running)


def decisions(settings: TrainingSettings) -> list[tuple[str, str, str, str, str]]:
    client = registry.client(settings)
    experiment = client.get_experiment_by_name(settings.decisions_experiment)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [
        (t["decision"], t.get(promote.STATE, ""), r.info.status) + _move(t)
        for r in runs
        for t in [r.data.tags]
    ]


def _move(tags: dict[str, str]) -> tuple[str, str]:
    return tags["champion_before"], tags["champion_after"]


def moves(decisions: list[tuple[str, str, str, str, str]]) -> list[str]:
    """The decisions that moved the champion (which versions depends on what a killed run
    registered first; that each moved to a whole version is checked apart)."""
    return [d[0] for d in decisions if d[3] != d[4]]


def _check(problems: list[str], what: str, check: Callable[[], object]) -> None:
    try:
        check()
    except Exception as exc:
        problems.append(f"{what}: {type(exc).__name__}: {exc}")


# --- the checks -------------------------------------------------------------------------------


def after_kill(before: Snapshot, clean: Snapshot, now: Snapshot) -> tuple[list[str], int]:
    """What is wrong after a kill, and the rows lost."""
    problems = list(now.problems)
    for name, rows in now.files.items():
        if rows not in (before.files.get(name), clean.files.get(name)):
            problems.append(f"{name} holds neither its rows before nor after a clean run")
    new = now.decisions[len(before.decisions) :]
    if now.decisions[: len(before.decisions)] != before.decisions:
        problems.append(f"earlier decisions changed: {now.decisions}")
    if len(new) > 1:
        problems.append(f"{len(new)} decisions on record for one command: {new}")
    recorded = {d[4] for d in new if d[1] in (promote.PENDING, promote.DONE)}
    if now.champion not in {before.champion, *recorded}:
        problems.append(
            f"champion {now.champion}: neither {before.champion} (before) nor a decision's"
        )
    return problems, lost(before.files, now.files)


def after_rerun(before: Snapshot, clean: Snapshot, now: Snapshot) -> tuple[list[str], int]:
    """What is wrong after the re-run, and the rows of a clean run it lacks."""
    problems = list(now.problems)
    names = set(now.files) | set(clean.files)
    differ = sorted(n for n in names if now.files.get(n) != clean.files.get(n))
    if differ:
        problems.append(f"data files differ from a clean run's: {differ[:3]}")
    if now.online != clean.online:
        problems.append(f"online store rows {now.online} != a clean run's {clean.online}")
    if now.running:
        problems.append(f"{now.running} training run(s) left RUNNING")
    unfinished = [d for d in now.decisions if d[1:3] != (promote.DONE, "FINISHED")]
    if unfinished:
        problems.append(f"decisions left unfinished: {unfinished}")
    # a kill after the command's work was done makes the re-run a second run, which may say
    # "already the champion": a refusal, never a second move
    if moves(now.decisions) != moves(clean.decisions):
        problems.append(
            f"moves on record {moves(now.decisions)}; a clean run's {moves(clean.decisions)}"
        )
    recorded = now.decisions[-1][4] if now.decisions else None
    if now.champion != recorded:
        problems.append(f"champion {now.champion}, the decisions on record say {recorded}")
    if role(now.challenger, before, now) != role(clean.challenger, before, clean):
        problems.append(f"challenger {now.challenger}; a clean run's {clean.challenger}")
    return problems, lost(clean.files, now.files)


def role(version: str | None, before: Snapshot, now: Snapshot) -> str | None:
    """A version as the checks compare it: itself if it was there before the command, `new`
    if it is the newest one since, `orphan` for an older one (registered by a killed run)."""
    if version is None or version in before.versions:
        return version
    return "new" if version == max(now.versions, key=int) else "orphan"


def lost(expected: dict[str, Counter], now: dict[str, Counter]) -> int:
    """Rows in `expected` missing from `now`, table by table (a table's files together)."""
    have = _tables(now)
    return sum(
        sum((rows - have.get(t, Counter())).values()) for t, rows in _tables(expected).items()
    )


def _tables(files: dict[str, Counter]) -> dict[str, Counter]:
    rows: dict[str, Counter] = {}
    for name, counts in files.items():
        table = "/".join(Path(name).parts[:2]).removesuffix(".parquet")  # zone/table
        rows.setdefault(table, Counter()).update(counts)
    return rows


# --- the trials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clean:
    before: Snapshot
    after: Snapshot
    seconds: float


def copy_start(starts: dict[str, Path], begin: str, folder: Path) -> Path:
    repo = starts[begin]
    copy = folder / repo.name
    shutil.copytree(repo, copy)
    return copy


def clean_run(command: Command, starts: dict[str, Path], begin: str, folder: Path) -> Clean:
    repo = copy_start(starts, begin, folder)
    before = snapshot(repo)
    code, seconds = run(command, repo, folder / "log.txt")
    if code != 0:
        raise SystemExit(f"the clean {command.name} from {begin} exited {code}: see {folder}")
    return Clean(before, snapshot(repo), seconds)


def one_trial(command: Command, repo: Path, clean: Clean, at: float) -> tuple[list[str], int, bool]:
    """Kill the command `at` seconds in, check, run it again, check: (problems, rows lost,
    whether the kill landed)."""
    log = repo.parent / "log.txt"
    landed = kill_after(command, repo, log, at)
    problems, lost_now = after_kill(clean.before, clean.after, snapshot(repo))
    problems = [f"after the kill at {at:.1f} s: {p}" for p in problems]
    code, _ = run(command, repo, log)
    if code not in command.done:
        problems.append(f"the re-run exited {code} (see {log})")
    again, lost_again = after_rerun(clean.before, clean.after, snapshot(repo))
    return problems + [f"after the re-run: {p}" for p in again], lost_now + lost_again, landed


def trials(
    command: Command, starts: dict[str, Path], work: Path, count: int, rng, keep: bool
) -> Tally:
    tally = Tally()
    ready = import_seconds(command)
    cleans = {}
    for begin in command.starts:
        cleans[begin] = clean_run(command, starts, begin, work / f"{command.name}-{begin}-clean")
        tally.notes.append(
            f"a clean run from {begin} takes {cleans[begin].seconds:.1f} s, {ready:.1f} s of "
            "them importing: kills land after that"
        )
    for i in range(count):
        begin = command.starts[i % len(command.starts)]
        folder = work / f"{command.name}-{i}"
        clean = cleans[begin]
        began = time.perf_counter()
        at = rng.uniform(min(ready, clean.seconds), clean.seconds)
        problems, rows, landed = one_trial(command, copy_start(starts, begin, folder), clean, at)
        tally.seconds += time.perf_counter() - began
        tally.trials += 1
        tally.landed += landed
        tally.rows_lost += rows
        if problems:
            tally.failures += 1
            tally.notes.append(f"trial {i} from {begin} ({folder}): " + "; ".join(problems))
        elif not keep:
            shutil.rmtree(folder)
    return tally


def import_seconds(command: Command) -> float:
    """How long the command's process takes to import its entry point: a kill before then
    lands before it has done anything."""
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", f"import {command.argv[0]}.__main__"],
        env=environment(ROOT),
        check=True,
    )
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--trials", type=int, default=10, help="kills per command")
    cli.add_argument("--seed", type=int, default=0)
    cli.add_argument("--only", help="commands, comma-separated (default: all)")
    cli.add_argument("--keep", action="store_true", help="keep every trial's folder")
    args = cli.parse_args(argv)
    chosen = [c for c in COMMANDS if not args.only or c.name in args.only.split(",")]
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="larder-kill-trials-"))
    began = time.perf_counter()
    print(f"building the starting states in {work}", flush=True)
    starts = build_starts(work)
    tallies = {}
    for command in chosen:
        print(f"{command.name}: {args.trials} trials", flush=True)
        tallies[command.name] = trials(command, starts, work, args.trials, rng, args.keep)
    print(table(tallies))
    failed = sum(t.failures for t in tallies.values())
    print(f"{time.perf_counter() - began:.0f} s in all; folders in {work}")
    if not failed and not args.keep:
        shutil.rmtree(work)
    return 1 if failed else 0


def table(tallies: dict[str, Tally]) -> str:
    lines = [
        "| command | trials | kills landed | failures | rows lost | s per trial |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in tallies.items():
        per = t.seconds / t.trials if t.trials else 0.0
        lines.append(
            f"| {name} | {t.trials} | {t.landed} | {t.failures} | {t.rows_lost} | {per:.1f} |"
        )
    notes = [f"- {name}: {note}" for name, t in tallies.items() for note in t.notes]
    return "\n".join([*lines, "", *notes])


if __name__ == "__main__":
    sys.exit(main())
