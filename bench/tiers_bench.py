"""Deployment tiers benchmark: our server on the flights, on each tier of deploy/tiers.

    make services-up                  # Redis and PostgreSQL on localhost (deploy/services.sh)
    make pipeline train               # the flights' offline store and MLflow champion
    TZ=UTC .venv/bin/python bench/tiers_bench.py [--seconds 10] [--runs 3] [--workers 2]
    TZ=UTC .venv/bin/python bench/tiers_bench.py --quick    # 2 s, 1 run, printed only
    TZ=UTC .venv/bin/python bench/tiers_bench.py --no-load  # without wrk: build, start, check

Tiers, each a copy of feature_repo/ of its own (bench/tiers_setup.py: the declarations and the
offline store; the original's stores are never touched), applied and materialized by `python
-m pipelines apply` and `materialize` under its LARDER_TIER, the materialization timed:
- embedded: LARDER_TIER unset, our SQLite online store and a file registry;
- redis: deploy/tiers/redis, Feast's redis online store (a Redis database of its own, emptied);
- postgres: deploy/tiers/postgres, stores.postgres.PostgresOnlineStore and Feast's SQL
  registry (a PostgreSQL database of its own, dropped at the end).
Each is served by `python -m serving --workers 2 --no-access-log`, as users start it, with the
original's champion. Its start-up is timed `--runs` times (process start to the first 200 from
/ready, the tiers taking turns); the last start is the server under load.

Workloads, at concurrency 8, with bench/serve_bench.py's bodies and wrk load
(bench/serve_bodies.py, bench/serve_keys.lua, bench/serve_load.py): /get-online-features for 1
and for 100 random real entities (every feature of flight_delay_v1's batch views, `as_of` the
data's watermark), and /predict for one random real flight. Before the load, a sample of the
bodies must get from each tier the same statuses and answers as from embedded (every value,
status and timestamp, and the probability); a difference is reported, not hidden. At each
workload the tiers take turns, run after run, the first turn rotating, so a change in the
machine's other load shifts every side of a ratio alike. CPU ms/req is the user + system time
of the server's processes over its requests; memory is the RSS (and PSS) of the server's
processes, summed, after the load. Nothing here asserts a timing.
"""

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serve_bench import Target, batch_views, code, command_output, log, progress  # noqa: E402
from bench.serve_bodies import (  # noqa: E402
    POOL,
    entity_bodies,
    predict_bodies,
    real_flights,
    write_lines,
)
from bench.serve_load import measure  # noqa: E402
from bench.serve_report import HUNDRED, ONE, PREDICT, over_runs, write  # noqa: E402
from bench.serve_servers import Server, post  # noqa: E402
from bench.tiers_setup import (  # noqa: E402
    EMBEDDED,
    OVERLAYS,
    POSTGRES,
    REDIS,
    REPO,
    StartError,
    Tier,
    build,
    check_services,
    memory_mb,
    server,
    services,
    started,
)

SERVICE = "flight_delay_v1"  # its batch views are the read workloads
TIERS = (EMBEDDED, REDIS, POSTGRES)
PORTS = {EMBEDDED: 8111, REDIS: 8112, POSTGRES: 8113}
CONCURRENCY = 8
PARITY_SAMPLE = 30  # bodies per workload compared with embedded before the load
SHOWN = 5  # differences shown per tier and workload
WORKLOADS = {  # workload: (route, file of bodies)
    ONE: ("/get-online-features", "features 1"),
    HUNDRED: ("/get-online-features", "features 100"),
    PREDICT: ("/predict", "predict"),
}
OFFLINE = REPO / "data" / "offline"
RESULT = ROOT / "bench" / "results" / "tiers.md"
RERUN = "TZ=UTC .venv/bin/python bench/tiers_bench.py"


@dataclass
class Live:
    """A tier's server under load: its process, start-up times and memory."""

    tier: Tier
    server: Server
    proc: subprocess.Popen | None = None
    starts: list[float] = field(default_factory=list)
    ready_mb: tuple[float, float] = (math.nan, math.nan)
    loaded_mb: tuple[float, float] = (math.nan, math.nan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="per point; medians (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="per server (default 2)")
    parser.add_argument("--quick", action="store_true", help="2 s, 1 run, not written")
    parser.add_argument(
        "--no-load", action="store_true", help="build, start and check the tiers, without wrk"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.runs = 2, 1
    if not args.no_load and shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed (Debian's `wrk` package: apt-get install wrk); --no-load "
            "builds, starts and checks the tiers without it"
        )
    versions = check_services()
    with tempfile.TemporaryDirectory(prefix="bench-tiers-") as tmp:
        text = bench(args, Path(tmp), versions)
    if not args.quick:  # a smoke run leaves the last full table in place
        write(text, RESULT)
    print(text)


def bench(args: argparse.Namespace, work: Path, versions: Sequence[str]) -> str:
    """Build every tier in `work`, check their answers, run every point; the report."""
    loads: dict[str, Sequence[float]] = {"at the start": os.getloadavg()}
    as_of = json.loads((OFFLINE / "_watermark.json").read_text())["as_of"]
    with services() as stores, contextlib.ExitStack() as stack:
        tiers = {}
        for name in TIERS:
            log(f"building {name} in {work / name}")
            tiers[name] = build(name, work, stores)
            log(f"  {name}: {tiers[name].materialized or tiers[name].failed}")
        if tiers[EMBEDDED].failed:
            raise SystemExit(f"embedded: {tiers[EMBEDDED].failed}")
        files = write_bodies(work, tiers[EMBEDDED], as_of)
        live = {n: Live(t, server(t, PORTS[n], args.workers)) for n, t in tiers.items()}
        failures = {n: f"{t.failed}" for n, t in tiers.items() if t.failed}
        start_all(stack, live, failures, args.runs, work)
        failures |= check_answers(live, failures, files)
        parity = check_parity(live, failures, files)
        loaded = [name for name in TIERS if name not in failures]
        samples = []
        if not args.no_load:
            loads["when the load starts"] = os.getloadavg()
            samples = load(live, loaded, files, args.seconds, args.runs)
        loads["at the end"] = os.getloadavg()
        for name in loaded:
            proc = live[name].proc
            assert proc is not None
            live[name].loaded_mb = memory_mb(proc)
    sections = [
        title(args, loads),
        conditions(args, loads, as_of, versions),
        rerun(args),
        load_section(samples),
        tiers_section(live, failures, bool(samples)),
        parity_section(parity),
        failures_section(failures),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def write_bodies(work: Path, embedded: Tier, as_of: str) -> dict[str, Path]:
    """The bodies of every workload, as bench/serve_bench.py writes ours: reads of every
    feature of the service's batch views for 1 and 100 flights, and one /predict per flight."""
    from feast import FeatureStore

    _, refs = batch_views(FeatureStore(repo_path=str(embedded.repo)), SERVICE)
    flights = real_flights(OFFLINE / "flight_outcomes.parquet", as_of)
    files = {}
    for rows in (1, 100):
        entities = entity_bodies(flights, rows, POOL, seed=rows)
        bodies = [{"entities": e, "features": list(refs), "as_of": as_of} for e in entities]
        files[f"features {rows}"] = write_lines(bodies, work / f"features_{rows}.jsonl")
    fields = example_fields(embedded)
    files["predict"] = write_lines(predict_bodies(flights, fields), work / "predict.jsonl")
    return files


def example_fields(tier: Tier) -> list[str]:
    """The fields of the body `python -m serving --example` prints on `tier`."""
    done = subprocess.run(
        [sys.executable, "-m", "serving", "--example"],
        cwd=ROOT,
        env=tier.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


def start_all(
    stack: contextlib.ExitStack,
    live: dict[str, Live],
    failures: dict[str, str],
    runs: int,
    work: Path,
) -> None:
    """Each tier's server started `runs` times, one at a time, the tiers taking turns (the
    first rotating); every start is timed, and the last one of each stays up for the load."""
    names = [n for n in TIERS if n not in failures]
    for run in range(runs):
        turn = run % len(names)
        for name in [*names[turn:], *names[:turn]]:
            if name in failures:
                continue
            one = live[name]
            try:
                if run < runs - 1:
                    with started(one.server, work / f"server-{name}.log") as (_, seconds):
                        pass
                else:
                    one.proc, seconds = stack.enter_context(
                        started(one.server, work / f"server-{name}.log")
                    )
                    one.ready_mb = memory_mb(one.proc)
            except StartError as exc:
                failures[name] = f"`python -m serving` {exc}"
                log(f"{name}: {failures[name]}")
                continue
            one.starts.append(seconds)
            log(f"{name} ready in {seconds:.2f} s (start {run + 1})")


def check_answers(
    live: dict[str, Live], failures: dict[str, str], files: dict[str, Path]
) -> dict[str, str]:
    """Each tier's answer to the first body of each workload must be a 200: a tier that
    answers otherwise is reported and left out of the load (embedded may not fail)."""
    refused = {}
    for name, (workload, (route, file)) in itertools.product(TIERS, WORKLOADS.items()):
        if name in failures or name in refused:
            continue
        status, answer = post(live[name].server.url(route), bodies(files[file], 1)[0])
        if status == 200:
            continue
        if name == EMBEDDED:
            raise SystemExit(f"embedded answered {route} with {status}: {answer}")
        refused[name] = f"answered {workload} with {status}: {str(answer)[:500]}"
        log(f"{name}: {refused[name]}")
    return refused


def check_parity(
    live: dict[str, Live], failures: dict[str, str], files: dict[str, Path]
) -> dict[tuple[str, str], tuple[Counter, list[str]]]:
    """By (tier, workload): cells by verdict over a sample of the bodies, each tier against
    embedded, and the first differences."""
    out = {}
    for name, (workload, (route, file)) in itertools.product(TIERS[1:], WORKLOADS.items()):
        if name in failures:
            continue
        verdicts: Counter = Counter()
        shown: list[str] = []
        for i, body in enumerate(bodies(files[file], PARITY_SAMPLE)):
            mine = post(live[EMBEDDED].server.url(route), body)
            theirs = post(live[name].server.url(route), body)
            for cell, verdict, text in compare(mine, theirs):
                verdicts[verdict] += 1
                if verdict == "different" and len(shown) < SHOWN:
                    shown.append(f"body {i}, {cell}: {text}")
        out[(name, workload)] = (verdicts, shown)
    return out


def bodies(path: Path, count: int) -> list[dict]:
    with path.open() as lines:
        return [json.loads(line) for line in itertools.islice(lines, count)]


def compare(mine: tuple[int, object], theirs: tuple[int, object]):
    """(cell, verdict, what differs) for every cell of two answers: the status, then every
    (value, status, timestamp) of a read and every field of a prediction, by name."""
    if mine[0] != theirs[0] or mine[0] != 200:
        same = mine == theirs
        text = f"embedded {mine[0]} {str(mine[1])[:200]}, tier {theirs[0]} {str(theirs[1])[:200]}"
        yield "status", "identical" if same else "different", text
        return
    ours, other = cells(mine[1]), cells(theirs[1])
    for cell in sorted(set(ours) | set(other)):
        a, b = ours.get(cell, "(absent)"), other.get(cell, "(absent)")
        verdict = "identical" if a == b else "different"
        if verdict == "identical" and isinstance(a, tuple):
            verdict = f"identical {a[1]}"  # by status: PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE, ...
        yield cell, verdict, f"embedded {a!r}, tier {b!r}"


def cells(answer) -> dict[str, object]:
    """A /get-online-features answer by (feature, row), or a /predict answer by field (its
    features by name; its request id, unique per request, left out)."""
    if "results" in answer:
        names = answer["metadata"]["feature_names"]
        return {
            f"{name}[{i}]": (value, status.upper(), stamp)
            for name, r in zip(names, answer["results"], strict=True)
            for i, (value, status, stamp) in enumerate(
                zip(r["values"], r["statuses"], r["event_timestamps"], strict=True)
            )
        }
    out: dict[str, object] = {
        k: json.dumps(v) for k, v in answer.items() if k not in ("request_id", "features")
    }
    for name, f in answer["features"].items():
        out[name] = (f["value"], f["status"].upper(), f["event_timestamp"])
    return out


def load(
    live: dict[str, Live],
    loaded: Sequence[str],
    files: dict[str, Path],
    seconds: int,
    runs: int,
) -> list[dict]:
    """Every tier at every workload, `runs` times, taking turns; one sample a run."""
    samples = []
    for (workload, (route, file)), run in itertools.product(WORKLOADS.items(), range(runs)):
        group = [Target(workload, live[n].server, route, files[file]) for n in loaded]
        turn = run % len(group)
        for target in [*group[turn:], *group[:turn]]:
            proc = live[target.server.label].proc
            assert proc is not None
            result = measure(target.server.url(route), target.bodies, CONCURRENCY, seconds, proc)
            sample = {"workload": workload, "server": target.server.label, "c": CONCURRENCY}
            samples.append({**sample, **result})
            log(progress(samples[-1], run))
    return samples


def summarize(samples: Sequence[dict]) -> list[dict]:
    """One row per (workload, tier): medians over the runs, errors summed."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in samples:
        groups.setdefault((s["workload"], s["server"]), []).append(s)
    rows = [
        {"workload": workload, "tier": tier, **over_runs(runs)}
        for (workload, tier), runs in groups.items()
    ]
    order = list(WORKLOADS)
    return sorted(rows, key=lambda r: (order.index(r["workload"]), TIERS.index(r["tier"])))


HEAD = (
    "| workload | tier | req/s | req/s range | p50 ms | p99 ms | non-2xx | socket errors "
    "| CPU ms/req | req/s vs embedded | p50 vs embedded | p99 vs embedded "
    "| CPU/req vs embedded |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
)


def table(rows: Sequence[dict]) -> list[str]:
    base = {r["workload"]: r for r in rows if r["tier"] == EMBEDDED}
    return [*HEAD, *(_line(r, base.get(r["workload"])) for r in rows)]


def _line(r: dict, embedded: dict | None) -> str:
    low, high = r["rps_range"]
    cells = [
        r["workload"],
        r["tier"],
        f"{r['rps']:.0f}",
        f"{low:.0f}-{high:.0f}",
        f"{r['p50']:.2f}",
        f"{r['p99']:.2f}",
        str(r["non2xx"]),
        str(r["socket_errors"]),
        f"{r['cpu_ms']:.2f}",
        *(_ratio(r, embedded, k) for k in ("rps", "p50", "p99", "cpu_ms")),
    ]
    return f"| {' | '.join(cells)} |"


def _ratio(r: dict, embedded: dict | None, key: str) -> str:
    if embedded is None or r is embedded or not embedded[key]:
        return ""
    return f"{r[key] / embedded[key]:.2f}x"


def load_section(samples: Sequence[dict]) -> str:
    head = f"## Load (concurrency {CONCURRENCY})"
    if samples:
        return f"{head}\n\n" + "\n".join(table(summarize(samples)))
    why = " (wrk is not installed on this machine)" if shutil.which("wrk") is None else ""
    return f"{head}\n\nNot run: `--no-load`{why}."


def title(args: argparse.Namespace, loads: dict[str, Sequence[float]]) -> str:
    head = f"# Deployment tiers benchmark (our server, {args.workers} workers"
    start, end = loads.get("when the load starts"), loads["at the end"]
    if start is None:
        return f"{head}, no load, {args.runs} start{'s' if args.runs > 1 else ''} per tier)"
    return (
        f"{head}, wrk, {args.seconds} s per run, median of {args.runs} "
        f"run{'s' if args.runs > 1 else ''}, load average {start[0]:.2f} when the load "
        f"starts, {end[0]:.2f} at the end)"
    )


def conditions(
    args: argparse.Namespace, loads: dict[str, Sequence[float]], as_of: str, versions: Sequence[str]
) -> str:
    import feast

    commit = command_output("git", "rev-parse", "--short", "HEAD")
    changed = len(command_output("git", "status", "--porcelain").splitlines())
    dirty = f" (plus {changed} uncommitted changes in the work tree)" if changed else ""
    found = command_output("wrk", "--version").split(" [")[0]
    wrk = f"{found} with one thread" if found else "no wrk installed"
    averages = "; ".join(
        f"{when} {' / '.join(f'{a:.2f}' for a in load)}" for when, load in loads.items()
    )
    return (
        f"## Conditions\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit "
        f"{commit}{dirty}, {os.cpu_count()} cores (shared: other work ran on the machine), "
        f"{args.workers} workers per server, Feast {feast.__version__}, {', '.join(versions)} "
        f"(both on localhost, from `make services-up`), {wrk}. Load average "
        f"(1 / 5 / 15 min): {averages}. The flights' full 2013 data, as `make pipeline train` "
        f"builds it. Each request draws one of {POOL} real bodies per workload; reads are as "
        f"of {as_of} (the data's watermark)." + ("" if args.no_load else LOAD_TERMS)
    )


LOAD_TERMS = (
    f" c (wrk's connections) is {CONCURRENCY}. p50 and p99 are wrk's; every figure is the "
    "median over the runs, the req/s range their lowest and highest, errors their sum. CPU "
    "ms/req: user + system time of the server's processes during a run, over its requests. "
    "Ratios are the tier's figure over embedded's (req/s below 1x, latency or CPU above 1x: "
    "the tier is slower)."
)


def rerun(args: argparse.Namespace) -> str:
    options = f" --runs {args.runs} --seconds {args.seconds} --workers {args.workers}"
    return (
        "## How to run it again\n\n```sh\nmake services-up      # Redis and PostgreSQL on "
        "localhost\nmake pipeline train   # feature_repo/data: the offline store and the "
        f"champion\n{RERUN}{options}\n```\n\nIt writes this file (not with `--quick`: 2 s, 1 "
        "run, printed only). It needs Redis on localhost:6379 (`LARDER_REDIS_PORT`) and "
        "PostgreSQL on localhost:5432 (`LARDER_PG_PORT`, user `larder`, trust auth); it uses "
        "Redis database 14 (emptied before and after) and a PostgreSQL database "
        "`larder_bench_<pid>` (dropped at the end)."
        + (" This file came from that command with `--no-load`." if args.no_load else "")
    )


def tiers_section(live: dict[str, Live], failures: dict[str, str], loaded: bool) -> str:
    lines = [
        "## Building and starting each tier",
        "",
        "| tier | LARDER_TIER | apply s | materialize s | materialize command s | start-up s "
        "(median) | start-up s (each start) | RSS at ready MiB | RSS after the load MiB "
        "| PSS after the load MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, one in live.items():
        t, starts = one.tier, one.starts
        overlay = OVERLAYS[name]
        cells = [
            name,
            f"`{overlay.relative_to(REPO.parent)}`" if overlay else "unset",
            _figure(t.apply_s, 1),
            _figure(t.materialize_s, 1),
            _figure(t.command_s, 1),
            _figure(statistics.median(starts) if starts else math.nan, 2),
            ", ".join(f"{s:.2f}" for s in starts),
            _figure(one.ready_mb[0], 0),
            _figure(one.loaded_mb[0], 0),
            _figure(one.loaded_mb[1], 0),
        ]
        lines.append(f"| {' | '.join(cells)} |")
    said = "\n".join(
        f"- {n}: {code(one.tier.materialized)}" for n, one in live.items() if one.tier.materialized
    )
    return (
        "\n".join(lines)
        + "\n\napply and materialize: the stage's own wall time as `python -m pipelines` "
        "prints it (materialize includes the pipeline's online = offline check on sampled "
        "entities); the materialize command: the whole process, interpreter and Feast's "
        "import included. Start-up: from the process's start to the first 200 from /ready "
        "(after its rehearsal, both workers' start and first read and prediction), one start "
        "at a time; the last start of each is the server under load, the others' servers "
        "then already running idle. Memory: the server's processes (supervisor and workers), "
        "summed; PSS counts pages they share once"
        + ("." if loaded else " (no load ran: after the answer checks).")
        + f"\n\nWhat each materialization said:\n\n{said}"
        + ("" if not failures else "\n\nA tier without figures failed: see below.")
    )


def _figure(value: float, digits: int) -> str:
    return "" if math.isnan(value) else f"{value:.{digits}f}"


def parity_section(parity: dict[tuple[str, str], tuple[Counter, list[str]]]) -> str:
    lines = [f"## Same answers as embedded (before the load, {PARITY_SAMPLE} bodies each)", ""]
    for (name, workload), (verdicts, shown) in parity.items():
        counts = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
        lines.append(f"- {name}, {workload}: {verdicts.total()} cells: {counts}")
        lines.extend(f"  - {code(s)}" for s in shown)
    lines.append(
        "\nA cell: one (value, status, event timestamp) of one feature of one entity (and for "
        "/predict the probability, model, FeatureService and prediction time), compared by "
        "name; identical cells are counted by their status (OUTSIDE_MAX_AGE: both withhold "
        "the value as older than its view's ttl at the request's time)."
    )
    return "\n".join(lines)


def failures_section(failures: dict[str, str]) -> str:
    if not failures:
        return ""
    lines = "\n".join(f"- {name}: {code(why)}" for name, why in failures.items())
    return f"## Tiers not measured\n\n{lines}"


if __name__ == "__main__":
    main()
