"""Run one measurement per fresh subprocess and report medians, peak memory and ratios.

A child prints one JSON line: its timed seconds and its peak resident memory (the child's
VmHWM, so DuckDB's native memory counts and no measurement inherits another's heap; imports
count alike for every peer).
"""

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "stores.md"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float


def child(module: str, *args: str) -> Run:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", module, "--child", *args],
        cwd=ROOT,
        env={**os.environ, "TZ": "UTC", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {args} failed:\n{done.stderr[-3000:]}")
    line = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]
    return Run(**json.loads(line))


def feast_apply(repo: Path) -> None:
    """`feast apply` in a generated repo, as a user runs it (this repo's stores importable)."""
    subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "feast.cli.cli", "apply"],
        cwd=repo, check=True, capture_output=True,
        env={**os.environ, "TZ": "UTC", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def median_run(runs: list[Run]) -> Run:
    seconds = statistics.median(r.seconds for r in runs)
    return Run(seconds, statistics.median(r.peak_mb for r in runs))


def measure(label: str, runs: int, module: str, *args: str) -> Run:
    """`runs` fresh children of `module`; prints each run and returns the medians."""
    done = [child(module, *args) for _ in range(runs)]
    print(label, [f"{r.seconds:.2f}s/{r.peak_mb:.0f}MB" for r in done], flush=True)
    return median_run(done)


def report(seconds: float) -> None:
    """Called in a child: print the JSON line the parent reads."""
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb()}), flush=True)


def peak_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent through
    # fork and exec, so a child would report at least its parent's peak.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory needs Linux")


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section `title` of bench/results/stores.md."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    text = RESULTS.read_text() if RESULTS.exists() else "# Store benchmarks\n"
    marker = f"\n## {title}\n"
    if marker in text:
        head, rest = text.split(marker, 1)
        tail = rest.split("\n## ", 1)
        text = head + (("\n## " + tail[1]) if len(tail) == 2 else "")
    RESULTS.write_text(text.rstrip("\n") + "\n" + marker + "\n" + body.rstrip("\n") + "\n")
