"""Corrupted-state trials: each state file a command reads, broken in several ways, under each
command that reads it, run as a user runs it; then the recovery the message gives.

    TZ=UTC .venv/bin/python trials/corrupt.py [--keep]

Not part of `make test` (tests/larder/test_state.py holds one case of each in the suite). It
builds the small flights platform of the test suite (tests/fixtures/flights_jan) with a trained
champion, and runs each trial on a copy. A trial passes when the command exits non-zero with
one line on stderr that names the broken file, and no traceback. Then, per file, the recovery
the line gives is followed and the command must succeed: delete the registry and apply; delete
the online store and materialize; restore the manifest (from a copy) and ingest.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, the repo's packages (and tests/) importable
os.environ["TZ"] = "UTC"
time.tzset()

from larder import state  # noqa: E402
from pipelines import manifest  # noqa: E402
from tests.conftest import FIXTURE, SLICES, new_platform, run_stages  # noqa: E402

Break = Callable[[Path], None]


def without_journal(path: Path) -> None:
    """SQLite's -wal and -shm gone too: else the WAL's copy of a page hides the damage."""
    for leftover in path.parent.glob(f"{path.name}-*"):
        leftover.unlink()


def truncate(share: float) -> Break:
    def cut(path: Path) -> None:
        without_journal(path)
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * share)])

    cut.__name__ = f"truncated to {share:.0%}"
    return cut


def garbage(path: Path) -> None:
    without_journal(path)
    kept = path.read_bytes()[4096:]
    path.write_bytes(os.urandom(4096) + kept)


def delete(path: Path) -> None:
    path.unlink()


garbage.__name__ = "first 4 KB overwritten"
delete.__name__ = "deleted"

SERVE = ("serving", "--port", "18931", "--workers", "2", "--no-access-log")
COMMANDS = {
    "ingest": ("pipelines", "ingest", "--landing", str(FIXTURE)),
    "validate": ("pipelines", "validate"),
    "transform": ("pipelines", "transform"),
    "apply": ("pipelines", "apply"),
    "materialize": ("pipelines", "materialize"),
    "train": ("training", "train", "--budget", "0"),
    "promote": ("training", "promote"),
    "serve": SERVE,
}
FILES: dict[str, tuple[Callable[[Path], Path], list[Break], list[str]]] = {
    "manifest": (
        lambda repo: repo / "data" / "raw" / manifest.NAME,
        [truncate(0.5), truncate(0.1), garbage],
        ["ingest", "validate"],
    ),
    "registry": (
        lambda repo: state.registry_path(repo),  # type: ignore[arg-type,return-value]
        [delete, truncate(0.5), truncate(0.9), garbage],
        ["apply", "materialize", "train", "serve"],
    ),
    "online store": (
        lambda repo: state.online_path(repo),  # type: ignore[arg-type,return-value]
        [truncate(0.5), truncate(0.0), garbage],
        ["materialize", "serve"],
    ),
    "MLflow store": (
        lambda repo: repo / "data" / "mlflow" / "mlflow.db",
        [truncate(0.5), truncate(0.0), garbage],
        ["train", "promote", "serve"],
    ),
}


def build(base: Path) -> Path:
    from tests.training.conftest import slice_settings
    from training.train import train

    settings = new_platform(base, FIXTURE)
    run_stages(settings, "ingest", "validate", "transform", "apply", "materialize")
    train(slice_settings(settings, tune_budget=0))
    return settings.feature_repo


def environment(repo: Path) -> dict[str, str]:
    """A user's environment for the domain folder: its slice's split, no inherited stores."""
    found = next(s for s in SLICES.values() if s.repo.name == repo.name)
    env = {
        **os.environ,
        "TZ": "UTC",
        "LARDER_FEATURE_REPO": str(repo),
        "LARDER_VALIDATION_START": found.validation_start.isoformat(),
        "LARDER_TEST_START": found.test_start.isoformat(),
        "LARDER_AS_OF": "2013-01-08T00:00:00+00:00",
    }
    for name in ("MLFLOW_TRACKING_URI", "LARDER_DEBUG", "LARDER_MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    return env


def run(repo: Path, argv: tuple[str, ...], timeout: float = 300) -> tuple[int, str]:
    env = environment(repo)
    command = [sys.executable, "-m", *argv]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        return -1, f"still running after {timeout:g} s: {exc.stderr!r}"
    return done.returncode, done.stderr


def judged(code: int, err: str, path: Path, rebuilds: bool) -> str | None:
    """Why the answer fails the trial, or None. A command that rebuilds the file (apply, for a
    deleted registry) must succeed and leave it sound instead."""
    if rebuilds:
        return None if code == 0 and path.exists() else f"exited {code}: {err[-300:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 0:
        return "exited 0"
    if "Traceback" in err:
        return "printed a traceback"
    if len(lines) != 1:
        return f"{len(lines)} lines on stderr: {lines[-3:]}"
    if path.name not in lines[0]:
        return f"does not name {path.name}: {lines[0]}"
    return None


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--keep", action="store_true", help="keep the trial folders")
    cli.add_argument("--only", help="only these commands, e.g. train,serve")
    cli.add_argument("--files", help="only these state files, e.g. registry,manifest")
    args = cli.parse_args()
    base = Path(tempfile.mkdtemp(prefix="larder-corrupt-"))
    started = time.monotonic()
    built = build(base / "built")
    print(f"built the platform and its champion in {time.monotonic() - started:.0f} s")
    tally: Counter[tuple[str, str]] = Counter()
    failures: list[str] = []
    for kind, (locate, breaks, commands) in FILES.items():
        if args.files and kind not in args.files.split(","):
            continue
        for number, brk in enumerate(breaks):
            for command in commands:
                if args.only and command not in args.only.split(","):
                    continue
                repo = base / f"{kind.replace(' ', '_')}-{number}-{command}" / built.name
                shutil.copytree(built, repo)
                path = locate(repo)
                brk(path)
                code, err = run(repo, COMMANDS[command], 90 if command == "serve" else 300)
                rebuilds = brk is delete and command == "apply"
                why = judged(code, err, path, rebuilds)
                tally[(kind, "trials")] += 1
                said = err.strip().splitlines()[-1] if err.strip() else ""
                if why:
                    tally[(kind, "failures")] += 1
                    failures.append(f"{kind} {brk.__name__}, {command}: {why}")
                print(f"  {kind}, {brk.__name__}, {command}: exit {code}: {said[:160]}")
                if not args.keep:
                    shutil.rmtree(repo.parent)
    print("recoveries, as the lines say:")
    for kind, steps, brk in [
        ("registry", [("delete", "registry"), ("apply",), ("materialize",)], truncate(0.5)),
        ("online store", [("delete", "online store"), ("materialize",)], garbage),
        ("manifest", [("restore",), ("ingest",), ("validate",)], truncate(0.5)),
    ]:
        repo = base / f"recover-{kind.replace(' ', '_')}" / built.name
        shutil.copytree(built, repo)
        path = FILES[kind][0](repo)
        backup = path.with_name(path.name + ".backup")
        shutil.copy(path, backup)
        brk(path)
        tally[(kind, "recoveries")] += 1
        for step in steps:
            if step[0] == "delete":
                path.unlink()
                continue
            if step[0] == "restore":
                shutil.copy(backup, path)
                continue
            code, err = run(repo, COMMANDS[step[0]])
            if code != 0:
                tally[(kind, "recovery failures")] += 1
                failures.append(f"recovering the {kind}: {step[0]} exited {code}: {err[-300:]}")
                break
        print(f"  {kind}: {' -> '.join(s[0] for s in steps)}: done")
    print()
    print("| state file | trials | failures | recoveries | recovery failures |")
    print("|---|---:|---:|---:|---:|")
    for kind in FILES:
        print(
            f"| {kind} | {tally[(kind, 'trials')]} | {tally[(kind, 'failures')]} | "
            f"{tally[(kind, 'recoveries')]} | {tally[(kind, 'recovery failures')]} |"
        )
    print(f"\n{time.monotonic() - started:.0f} s in all")
    for failure in failures:
        print("FAILED", failure)
    if not args.keep:
        shutil.rmtree(base)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
