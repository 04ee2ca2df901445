"""Growth benchmark: the whole loop (ingest to a served prediction) on 1x, 3x, ... resamples of
the 2013 flights, each stage's wall time and each command's peak memory, and how they grow.

A k-times resample keeps the year, the airports and the weather, and flies k fleets: copy j of
every flight and every plane gets the tail number suffixed with a letter (copy 0 is the real
one) and the flight number moved by 10,000 j, so each copy is a fleet of its own, with its own
rotations, and every rule of the domain's contract still holds. Each factor runs in a fresh
copy of the domain folder (its data folder empty), with the commands a user runs:
`python -m pipelines run`, `python -m training train`, then `python -m serving` until /ready
and one /predict. Stage times are the `[stage] ... (s)` lines the commands print; peak memory
is each command's high-water RSS (GNU time). Growth per stage is its time at the largest
factor over its time at 1x, against the factor: near 1 per x is linear.

    TZ=UTC .venv/bin/python bench/growth_bench.py [--factors 1 3 10] [--out bench/results/growth.md]
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from larder.domain import load  # noqa: E402
from pipelines import sample  # noqa: E402
from pipelines.ingest import read_source  # noqa: E402

REPO = ROOT / "feature_repo"
RESULT = ROOT / "bench" / "results" / "growth.md"
STEP = re.compile(r"^\[(\w+)\] .*\(([0-9.]+) s\)$")
COPIES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def resample(landing: Path, factor: int) -> dict[str, int]:
    """The domain's sample, with `factor` fleets of flights and planes: rows per table."""
    sources = load(REPO).sources
    sample.lay_out(load(REPO), landing)
    rows = {}
    for table in ("flights", "planes"):
        path = next(landing.glob(f"{table}.*"))
        frame = read_source(sources[table], path)
        copies = [frame] + [_fleet(frame, j) for j in range(1, factor)]
        path.unlink()
        grown = pl.concat(copies)
        grown.write_parquet(landing / f"{table}.parquet")
        rows[table] = grown.height
    return rows


def _fleet(frame: pl.DataFrame, j: int) -> pl.DataFrame:
    """Copy j: tail numbers suffixed (at most 8 characters), flight numbers moved."""
    tail = pl.col("tailnum").str.slice(0, 7) + COPIES[j - 1]
    moved = frame.with_columns(tailnum=tail)
    if "flight" in frame.columns:
        moved = moved.with_columns(flight=pl.col("flight") + 10_000 * j)
    return moved


def run(command: list[str], env: dict[str, str], log: Path) -> tuple[dict[str, float], float]:
    """A command's stage times and its peak RSS (MiB), through GNU time."""
    timed = ["/usr/bin/time", "-f", "PEAK_KB %M", *command]
    with log.open("a") as out:
        done = subprocess.run(
            timed, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=out, text=True
        )
    text = done.stdout
    with log.open("a") as out:
        out.write(text)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (see {log})")
    stages: dict[str, float] = {}
    for line in text.splitlines():
        found = STEP.match(line.strip())
        if found:
            stages[found.group(1)] = stages.get(found.group(1), 0.0) + float(found.group(2))
    peak = re.findall(r"PEAK_KB (\d+)", log.read_text())
    return stages, int(peak[-1]) / 1024


def serve(env: dict[str, str], log: Path) -> tuple[float, float]:
    """Seconds until /ready and until a first /predict answers, then the server is stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    example = subprocess.run(
        [sys.executable, "-m", "serving", "--example"], env=env, cwd=ROOT,
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    started = time.perf_counter()
    command = [sys.executable, "-m", "serving", "--port", str(port), "--no-access-log"]
    with log.open("a") as out:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        ready = _wait(f"http://127.0.0.1:{port}/ready", started)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            example.encode(),
            {"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            json.loads(answer.read())
        return ready, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)


def _wait(url: str, started: float) -> float:
    while time.perf_counter() - started < 300:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within 300 s")


def one_factor(factor: int, work: Path) -> dict:
    repo = work / f"x{factor}" / "feature_repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    landing = work / f"x{factor}" / "landing"
    rows = resample(landing, factor)
    log = work / f"x{factor}.log"
    env = {**os.environ, "TZ": "UTC", "LARDER_FEATURE_REPO": str(repo)}
    env["LARDER_LANDING"] = str(landing)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("LARDER_TIER", None)
    started = time.perf_counter()
    pipeline, pipeline_mb = run([sys.executable, "-m", "pipelines", "run"], env, log)
    pipeline_s = time.perf_counter() - started
    started = time.perf_counter()
    training, training_mb = run([sys.executable, "-m", "training", "train"], env, log)
    training_s = time.perf_counter() - started
    watermark = json.loads((repo / "data" / "offline" / "_watermark.json").read_text())
    ready, first = serve({**env, "LARDER_AS_OF": watermark["as_of"]}, log)
    print(f"x{factor}: pipeline {pipeline_s:.0f} s, training {training_s:.0f} s", flush=True)
    return {
        "factor": factor,
        "rows": rows,
        "stages": {**pipeline, **{f"train.{k}": v for k, v in training.items()}},
        "commands": {"pipelines run": pipeline_s, "training train": training_s},
        "peak_mb": {"pipelines run": pipeline_mb, "training train": training_mb},
        "ready_s": ready,
        "first_prediction_s": first,
    }


def report(results: list[dict], load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    factors = [r["factor"] for r in results]
    head = "| stage | " + " | ".join(f"{f}x s" for f in factors) + " | growth per x |"
    lines = [
        "# Growth: the whole loop on resamples of the 2013 flights",
        "",
        f"`TZ=UTC .venv/bin/python bench/growth_bench.py --factors {' '.join(map(str, factors))}`"
        " (bench/growth_bench.py): k fleets flying the 2013 schedule (flights and planes copied"
        " with their own tail and flight numbers; the same airports and weather). One run per"
        f" factor, 2 cores. Load average (1, 5, 15 min) at the start {load[0]}, at the end"
        f" {load[1]}.",
        "",
        "Rows: "
        + "; ".join(
            f"{r['factor']}x: {r['rows']['flights']:,} flights, {r['rows']['planes']:,} planes"
            for r in results
        )
        + ".",
        "",
        head,
        "|---|" + "---|" * (len(factors) + 1),
    ]
    last = factors[-1]
    names = list(dict.fromkeys(n for r in results for n in r["stages"]))
    rows = [(n, [r["stages"].get(n) for r in results]) for n in names]
    rows += [
        (f"`{c}` (whole command)", [r["commands"][c] for r in results])
        for c in results[0]["commands"]
    ]
    rows += [("server to /ready", [r["ready_s"] for r in results])]
    rows += [("server to a first /predict", [r["first_prediction_s"] for r in results])]
    for name, values in rows:
        cells = " | ".join("" if v is None else f"{v:.1f}" for v in values)
        lines.append(f"| {name} | {cells} | {_growth(values, factors, last)} |")
    lines += [
        "",
        "| command | " + " | ".join(f"{f}x peak RSS MiB" for f in factors) + " | growth per x |",
    ]
    lines.append("|---|" + "---|" * (len(factors) + 1))
    for command in results[0]["peak_mb"]:
        values = [r["peak_mb"][command] for r in results]
        cells = " | ".join(f"{v:,.0f}" for v in values)
        lines.append(f"| `{command}` | {cells} | {_growth(values, factors, last)} |")
    lines += [
        "",
        "Growth per x: (time at the largest factor / time at 1x) / the factor. About 1 is",
        "linear; below 1, fixed costs (imports, Feast's apply) dominate; above 1, worse than",
        "linear.",
    ]
    return "\n".join(lines) + "\n"


def _growth(values: list, factors: list[int], last: int) -> str:
    first, final = values[0], values[-1]
    if not first or final is None or last == factors[0]:
        return ""
    return f"{final / first / (last / factors[0]):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    if max(args.factors) > len(COPIES) + 1:
        raise SystemExit(f"at most {len(COPIES) + 1} fleets")
    start_load = tuple(round(x, 2) for x in os.getloadavg())
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        for factor in args.factors:
            results.append(one_factor(factor, Path(tmp)))
            text = report(results, (start_load, tuple(round(x, 2) for x in os.getloadavg())))
            args.out.write_text(text)  # after each factor: a stopped run keeps what it measured
    print(text)


if __name__ == "__main__":
    main()
