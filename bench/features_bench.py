"""Benchmark: the full declared feature set, Polars (this repo's job) against the pandas peer.

`python bench/features_bench.py` runs every (engine, scale) in its own process, one after the
other, and writes bench/results/features.md. Inputs are the validated 2013 tables of the
flights domain; the flight outcomes and event tables are built first (not timed, the same for
both engines). Scale 10 replicates every flight ten times, each copy on its own aircraft
(tail number suffixed) and shifted by 0-9 minutes: 3.37 million flights.
"""

import json
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines import jobs, transform, windows  # noqa: E402
from pipelines.settings import PipelineSettings  # noqa: E402

SHIFTED = ["scheduled_departure", "prediction_time", "known_at", "departed_at"]


def scaled_outcomes(settings: PipelineSettings, scale: int) -> pl.DataFrame:
    domain = settings.domain
    sources = jobs.inputs(domain, settings.validated, None)
    outcomes = domain.derivations["flight_outcomes"](sources["flights"], sources["airports"])
    outcomes = outcomes.collect()
    copies = [
        outcomes.with_columns(
            pl.col("tailnum") + f"-{r}" if r else pl.col("tailnum"),
            pl.col("flight") + 10000 * r,
            *(pl.col(c) + timedelta(minutes=r) for c in SHIFTED),
        )
        for r in range(scale)
    ]
    return pl.concat(copies)


def event_tables(settings: PipelineSettings, outcomes: pl.DataFrame) -> dict[str, pl.LazyFrame]:
    """The domain's event tables, from the (scaled) flight outcomes."""
    sources = jobs.inputs(settings.domain, settings.validated, None)
    tables = transform.derive(settings.domain, {**sources, "flight_outcomes": outcomes.lazy()})
    sources_read = {v.source for v in settings.domain.windowed()}
    return {name: tables[name].collect().lazy() for name in sources_read}


def run_polars(events: dict, views) -> dict[str, int]:
    return {v.name: windows.compute(events[v.source], v).collect().height for v in views}


def run_pandas(events: dict, views) -> dict[str, int]:
    from bench.features_pandas import compute

    frames = {name: frame.collect().to_pandas() for name, frame in events.items()}
    return {v.name: len(compute(frames[v.source], v)) for v in views}


def one(engine: str, scale: int) -> dict:
    settings = PipelineSettings()
    views = settings.domain.windowed()
    outcomes = scaled_outcomes(settings, scale)
    events = event_tables(settings, outcomes)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    rows = (run_polars if engine == "polars" else run_pandas)(events, views)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"engine": engine, "scale": scale, "flights": outcomes.height, "seconds": seconds,
            "peak_mb": peak, "inputs_mb": base, "rows": sum(rows.values())}  # fmt: skip


def check() -> None:
    """At scale 1, the pandas peer's values equal the Polars job's (floats to 1e-9)."""
    from bench.features_pandas import compute

    settings = PipelineSettings()
    events = event_tables(settings, scaled_outcomes(settings, 1))
    for view in settings.domain.windowed():
        mine = windows.compute(events[view.source], view).collect()
        peer = pl.from_pandas(compute(events[view.source].collect().to_pandas(), view))
        peer = peer.with_columns(pl.col("event_timestamp").cast(mine.schema["event_timestamp"]))
        peer = peer.cast({c: mine.schema[c] for c in mine.columns if c != "event_timestamp"})
        diff = mine.join(peer, on=[*view.entities, "event_timestamp"], how="full", suffix="_peer")
        assert diff.height == mine.height == peer.height, view.name
        for name, _ in view.features():
            a, b = diff[name], diff[f"{name}_peer"]
            assert (a.is_null() == b.is_null()).all(), (view.name, name)
            assert ((a - b).abs().fill_null(0) <= 1e-9).all(), (view.name, name)
        print(view.name, "pandas == polars on", mine.height, "rows", flush=True)


def main() -> None:
    if sys.argv[1:] == ["check"]:
        check()
        return
    if len(sys.argv) == 3:
        print(json.dumps(one(sys.argv[1], int(sys.argv[2]))))
        return
    results = []
    for scale in (1, 10):
        for engine in ("polars", "pandas"):
            command = [sys.executable, __file__, engine, str(scale)]
            env = {"TZ": "UTC", "PATH": ""}
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode:
                print(done.stderr[-3000:], file=sys.stderr)
                results.append({"engine": engine, "scale": scale, "error": done.stderr[-300:]})
                continue
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "features.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
