"""Cluster engines benchmark: the flights on the embedded stores against Spark local and Ray
local (deploy/tiers/spark, deploy/tiers/ray), in one run on the same data.

    make pipeline train                    # the flights' full offline store
    TZ=UTC .venv/bin/python bench/engines_bench.py [--runs 3] [--rows 20000]
    TZ=UTC .venv/bin/python bench/engines_bench.py --quick     # 1 run, 2000 rows, printed only

Each side works in a copy of feature_repo/ of its own (bench/tiers_setup.py's copy_domain: the
declarations and the full offline store; the original's stores are never touched), applied by
`python -m pipelines apply`.

- Point-in-time frame: Feast's get_historical_features for the task's FeatureService on the
  first `--rows` entity rows of the task's examples (in time order), over the full offline
  tables; embedded (stores.offline.AsofDuckDBOfflineStore) against the Spark tier
  (stores.spark.FileSparkOfflineStore, local[2]). Each side runs in a process of its own: the
  first frame (a Spark session's start included) is reported apart, then `--runs` frames timed.
  Both sides' answers are compared, value for value; a difference is reported, not hidden.
- Materialization: `python -m pipelines materialize` (online = offline check included) into a
  fresh SQLite online store, embedded (stores.engine.BulkComputeEngine) against the Ray tier
  (stores.ray.RayBulkComputeEngine, local Ray, 2 CPUs), `--runs` times each, the sides taking
  turns; the stage's own wall time and the command's (interpreter and Ray start included).

Peak memory is the largest sum of RSS over the process and its descendants (Spark's JVM, Ray's
raylet and workers), sampled every 50 ms. The load average is read at the start and the end.
Nothing here asserts a timing.
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402  (a dependency of feast)

from bench.tiers_setup import REPO, copy_domain  # noqa: E402

SPARK, RAY, EMBEDDED = "spark", "ray", "embedded"
TIERS = {
    EMBEDDED: None,
    SPARK: ROOT / "deploy" / "tiers" / "spark",
    RAY: ROOT / "deploy" / "tiers" / "ray",
}
RESULT = ROOT / "bench" / "results" / "engines.md"
POLL_S = 0.05


def env_for(tier: str, repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LARDER_TIER", "LARDER_FEATURE_REPO")}
    env |= {"TZ": "UTC", "PYTHONPATH": str(ROOT), "LARDER_FEATURE_REPO": str(repo)}
    if TIERS[tier] is not None:
        env["LARDER_TIER"] = str(TIERS[tier])
    return env


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process that ended meanwhile
            total += p.memory_info().rss
    return total


def run_watched(
    cmd: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run `cmd`; its wall time and the peak RSS of its process tree (bytes)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak, watched = 0, psutil.Process(proc.pid)
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, tree_rss(watched))
            except psutil.Error:
                return
            time.sleep(POLL_S)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    out, err = proc.communicate()
    done.set()
    thread.join()
    wall = time.perf_counter() - started
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), wall, peak


def stage(tier: str, repo: Path, name: str) -> tuple[float, float, int]:
    """`python -m pipelines NAME` on the tier: the stage's own seconds, the command's, peak RSS."""
    import re

    done, wall, peak = run_watched([sys.executable, "-m", "pipelines", name], env_for(tier, repo))
    lines = [line for line in done.stdout.splitlines() if line.startswith(f"[{name}]")]
    if done.returncode != 0 or not lines:
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise SystemExit(
            f"{tier}: `pipelines {name}` failed: {said[-1] if said else done.returncode}"
        )
    seconds = re.search(r"\(([\d.]+) s\)$", lines[-1])
    return (float(seconds.group(1)) if seconds else float("nan")), wall, peak


# -- point-in-time frames (one process per side) ---------------------------------------------


def frame_worker(repo: Path, rows: int, runs: int, out: Path) -> None:
    """In a process of its own, on the tier of LARDER_TIER: the first frame, then `runs`."""
    from larder import tier
    from training.contract import service_inputs
    from training.examples import ROW_ID, TIMESTAMP, entity_columns
    from training.frames import entities_for, get_service, load_examples
    from training.settings import TrainingSettings

    settings = TrainingSettings(feature_repo=repo)
    store = tier.open_store(repo)
    service = get_service(store, settings.service)
    keys, requested = service_inputs(store, service)
    entities = entities_for(store, service, load_examples(settings), settings.task)
    entities = entities.sort_values(TIMESTAMP, kind="stable").head(rows)  # the first in time
    entities = entities[entity_columns(keys, requested)]
    times, answer = [], None
    for _ in range(runs + 1):
        started = time.perf_counter()
        answer = store.get_historical_features(entity_df=entities.copy(), features=service).to_df()
        times.append(time.perf_counter() - started)
    assert answer is not None
    answer.sort_values(ROW_ID).reset_index(drop=True).to_parquet(out)
    print(json.dumps({"first": times[0], "runs": times[1:], "rows": len(entities)}))


def frames(work: Path, rows: int, runs: int) -> dict[str, dict]:
    repo = copy_domain(work, "frames")
    stage(EMBEDDED, repo, "apply")
    found = {}
    for side in (EMBEDDED, SPARK):
        out = work / f"frame-{side}.parquet"
        cmd = [
            sys.executable,
            __file__,
            "--frame-worker",
            str(repo),
            str(rows),
            str(runs),
            str(out),
        ]
        done, wall, peak = run_watched(cmd, env_for(side, repo))
        if done.returncode != 0:
            tail = [line for line in done.stderr.splitlines() if line.strip()][-3:]
            raise SystemExit(f"{side} frame failed: {' | '.join(tail)}")
        found[side] = {
            **json.loads(done.stdout.strip().splitlines()[-1]),
            "peak": peak,
            "wall": wall,
        }
        found[side]["answer"] = out
    found["same"] = same_answers(found[EMBEDDED]["answer"], found[SPARK]["answer"])
    return found


def same_answers(a: Path, b: Path) -> str:
    import pandas as pd

    want, got = pd.read_parquet(a), pd.read_parquet(b)
    if set(want.columns) != set(got.columns):
        return f"DIFFERENT columns: {sorted(set(want.columns) ^ set(got.columns))}"
    order = "" if list(want.columns) == list(got.columns) else " (Spark's columns in another order)"
    try:
        pd.testing.assert_frame_equal(got[want.columns], want)
    except AssertionError as exc:
        return "DIFFERENT: " + str(exc).splitlines()[0]
    return "equal, value for value" + order


# -- materialization -------------------------------------------------------------------------


def materializations(work: Path, runs: int) -> dict[str, list[tuple[float, float, int]]]:
    """Each side `runs` times into a fresh copy, the sides taking turns."""
    found: dict[str, list[tuple[float, float, int]]] = {EMBEDDED: [], RAY: []}
    for run in range(runs):
        order = (EMBEDDED, RAY) if run % 2 == 0 else (RAY, EMBEDDED)
        for side in order:
            repo = copy_domain(work, f"{side}-{run}")
            stage(side, repo, "apply")
            found[side].append(stage(side, repo, "materialize"))
            print(
                f"  materialize {side} run {run + 1}: {found[side][-1][0]:.1f} s", file=sys.stderr
            )
    return found


# -- report ----------------------------------------------------------------------------------


def mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def listed(values, digits: int) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def med(values) -> float:
    return statistics.median(values)


def report(frame: dict, mat: dict, loads: tuple, runs: int) -> str:
    e, s = frame[EMBEDDED], frame[SPARK]
    em, rm = mat[EMBEDDED], mat[RAY]
    m = lambda rows, i: med([r[i] for r in rows])  # noqa: E731
    lines = [
        "# Cluster engines: embedded against Spark local and Ray local",
        "",
        "`TZ=UTC .venv/bin/python bench/engines_bench.py` (bench/engines_bench.py), flights, the "
        f"full offline store; medians of {runs} runs; 2 cores shared with others.",
        "",
        f"Load average (1, 5, 15 min): start {loads[0]}, end {loads[1]}.",
        "",
        "| workload | embedded | Spark local / Ray local | ratio (engine / embedded) |",
        "|---|---|---|---|",
        f"| point-in-time frame, {e['rows']:,} entity rows, wall | {med(e['runs']):.2f} s | "
        f"{med(s['runs']):.2f} s (Spark) | {med(s['runs']) / med(e['runs']):.1f}x |",
        f"| first frame of a process (Spark: session start included) | {e['first']:.2f} s | "
        f"{s['first']:.2f} s | {s['first'] / e['first']:.1f}x |",
        f"| frame process, peak RSS (Spark: its JVM included) | {mb(e['peak'])} | "
        f"{mb(s['peak'])} | {s['peak'] / e['peak']:.1f}x |",
        f"| materialize (stage, parity check included) | {m(em, 0):.1f} s | {m(rm, 0):.1f} s (Ray) "
        f"| {m(rm, 0) / m(em, 0):.1f}x |",
        f"| materialize command (interpreter, Ray start) | {m(em, 1):.1f} s | {m(rm, 1):.1f} s | "
        f"{m(rm, 1) / m(em, 1):.1f}x |",
        f"| materialize, peak RSS (Ray: raylet and workers included) | {mb(m(em, 2))} | "
        f"{mb(m(rm, 2))} | {m(rm, 2) / m(em, 2):.1f}x |",
        "",
        f"The frames: {frame['same']}. Frame runs (s): embedded {listed(e['runs'], 2)}; "
        f"Spark {listed(s['runs'], 2)}.",
        f"Materialize stage (s): embedded {listed([r[0] for r in em], 1)}; "
        f"Ray {listed([r[0] for r in rm], 1)}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="per side; medians (default 3)")
    parser.add_argument("--rows", type=int, default=20_000, help="entity rows per frame")
    parser.add_argument("--quick", action="store_true", help="1 run, 2000 rows, not written")
    parser.add_argument("--frame-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.frame_worker:
        repo, rows, runs, out = args.frame_worker
        return frame_worker(Path(repo), int(rows), int(runs), Path(out))
    if args.quick:
        args.runs, args.rows = 1, 2000
    if not (REPO / "data" / "offline" / "_watermark.json").is_file():
        raise SystemExit(f"no offline store in {REPO}: run `make pipeline` first")
    start = tuple(round(x, 2) for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="engines-bench-") as folder:
        work = Path(folder)
        print("point-in-time frames ...", file=sys.stderr)
        frame = frames(work, args.rows, args.runs)
        print("materializations ...", file=sys.stderr)
        mat = materializations(work, args.runs)
    end = tuple(round(x, 2) for x in os.getloadavg())
    text = report(frame, mat, (start, end), args.runs)
    print(text)
    if not args.quick:
        RESULT.write_text(text)


if __name__ == "__main__":
    main()
