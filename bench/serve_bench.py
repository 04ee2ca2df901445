"""Serving benchmark: this server against stock `feast serve`, random real keys per request.

    TZ=UTC .venv/bin/python bench/serve_bench.py [--seconds 10] [--runs 3] [--workers 2]
    TZ=UTC .venv/bin/python bench/serve_bench.py --quick    # 2 s, 1 run, printed only

Servers, each started as users start it, with the same number of workers:
- ours: `python -m serving --no-access-log`, on the platform's repo and stores;
- feast serve: `feast serve --no-access-log --max-requests 0` on a stock Feast repo of its own
  (bench/serve_peer.py: sqlite online store, file offline store, its own registry) holding the
  batch views of flight_delay_v1, applied and materialized with the `feast` CLI;
- feast serve, precompute_online: the same, plus a FeatureService over those views with
  `precompute_online=True`, read by the service's name. If it cannot answer, the report says
  why (its answer, and what Feast logged while materializing) and the load leaves it out.

Workloads: /get-online-features for 1 and 100 entities (every feature of those views), and
/predict for one flight (ours only; compared with the peers' answer for one entity). Every
request carries a body drawn at random from a few thousand real ones (bench/serve_bodies.py,
bench/serve_keys.lua). Before the load, a sample of the bodies must get the same values,
statuses and timestamps from ours as from the peers.

Reads carry `as_of` = the data's watermark: the data is from 2013, so at the wall clock every
value would be stale, and ours would withhold it (OUTSIDE_MAX_AGE). Feast ignores `as_of` and,
on its default path, the ttl too, so it answers the same values; the timing compares like work.

At each point (workload, concurrency), the servers take turns, run after run, the first turn
rotating, so a change in the machine's other load shifts every side of a ratio alike. Besides
throughput and latency, the table gives the CPU time each server's processes used per request
(user + system, all workers): unlike req/s, it hardly depends on what else the machine runs.
Nothing here asserts a timing.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feast import FeatureStore

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serve_bodies import (  # noqa: E402
    POOL,
    entity_bodies,
    predict_bodies,
    predict_fields,
    real_flights,
    write_lines,
)
from bench.serve_load import measure  # noqa: E402
from bench.serve_parity import check_answers, check_parity, parity_section  # noqa: E402
from bench.serve_peer import Peer, build_peer  # noqa: E402
from bench.serve_report import (  # noqa: E402
    HUNDRED,
    ONE,
    OURS,
    PRECOMPUTE,
    PREDICT,
    STOCK,
    summarize,
    table,
    write,
)
from bench.serve_servers import Server, running  # noqa: E402

SERVICE = "flight_delay_v1"  # its batch views are the workload
PRECOMPUTED = "flight_delay_precomputed"
PORTS = {OURS: 8101, STOCK: 8102, PRECOMPUTE: 8103}
CONCURRENCY = (1, 8, 32)
# Why a precompute peer on a sqlite store answers no read, from Feast 0.67's source
# (feature_store.py's precompute_feature_service, online_store.py's get_online_features).
PRECOMPUTE_WHY = (
    "Why, in Feast 0.67's source: `precompute_feature_service` (run after each materialize) "
    "finds the entities to precompute only in a Redis online store. It imports Feast's Redis "
    "store first, which without the `redis` package raises FeastExtrasDependencyImportError, "
    'not the ImportError it catches; with the package, any other store is skipped ("Entity '
    'scanning not supported"). So a sqlite store gets no vectors, and a read by the '
    "service's name raises instead of falling back to per-view reads. The `feast precompute` "
    "command its message names is not in the 0.67 CLI."
)
OFFLINE = ROOT / "feature_repo" / "data" / "offline"
RESULT = ROOT / "bench" / "results" / "serve.md"


@dataclass(frozen=True)
class Target:
    """One server under one workload: the route wrk posts to and the file of bodies."""

    workload: str
    server: Server
    path: str
    bodies: Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="per point; medians (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="per server (default 2)")
    parser.add_argument("--quick", action="store_true", help="2 s, 1 run, not written")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.runs = 2, 1
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        text = bench(args, Path(tmp))
    if not args.quick:  # a smoke run leaves the last full table in place
        write(text, RESULT)
    print(text)


def bench(args: argparse.Namespace, work: Path) -> str:
    """Build the bodies and peers in `work`, run every point; the report, as Markdown."""
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(ROOT / "feature_repo"))
    as_of = json.loads((OFFLINE / "_watermark.json").read_text())["as_of"]
    views, refs = batch_views(store, SERVICE)
    files = write_bodies(work, refs, as_of)
    log(f"building the stock peers of {', '.join(views)} in {work}")
    moment = datetime.fromisoformat(as_of)
    peers = {
        STOCK: build_peer(work / "stock", store, views, moment),
        PRECOMPUTE: build_peer(work / "precompute", store, views, moment, PRECOMPUTED),
    }
    servers = make_servers(work, peers, args.workers)
    with running(list(servers.values())) as procs:
        refused = check_answers(servers, files)
        parity = check_parity(servers, files, refused)
        groups = workload_groups(servers, files, refused)
        load_start = os.getloadavg()
        samples = load(groups, procs, args.seconds, args.runs)
        load_end = os.getloadavg()
    sections = [
        title(args, load_start, load_end),
        conditions(args, load_start, load_end, as_of),
        "\n".join(table(summarize(samples))),
        parity_section(parity),
        precompute_section(refused, peers[PRECOMPUTE]),
    ]
    return "\n\n".join(sections) + "\n"


def batch_views(store: "FeatureStore", service: str) -> tuple[list[str], list[str]]:
    """The batch feature views of `service`, and `view:feature` references to all their
    features (the on-demand views are left out: the stock peer has no request data)."""
    batch = {fv.name for fv in store.list_feature_views()}
    projections = [
        p for p in store.get_feature_service(service).feature_view_projections if p.name in batch
    ]
    refs = [f"{p.name}:{f.name}" for p in projections for f in p.features]
    return [p.name for p in projections], refs


def write_bodies(work: Path, refs: Sequence[str], as_of: str) -> dict[str, Path]:
    """Files of bodies: by feature references (ours and the stock peer), by the precomputed
    service's name (the same entities), and /predict bodies, one per real flight."""
    flights = real_flights(OFFLINE / "flight_outcomes.parquet", as_of)
    files = {}
    for rows in (1, 100):
        entities = entity_bodies(flights, rows, POOL, seed=rows)
        by_refs = [{"entities": e, "features": list(refs), "as_of": as_of} for e in entities]
        by_service = [{"entities": e, "feature_service": PRECOMPUTED} for e in entities]
        files[f"features {rows}"] = write_lines(by_refs, work / f"features_{rows}.jsonl")
        files[f"service {rows}"] = write_lines(by_service, work / f"service_{rows}.jsonl")
    fields = predict_fields(ROOT)
    files["predict"] = write_lines(predict_bodies(flights, fields), work / "predict.jsonl")
    return files


def make_servers(work: Path, peers: dict[str, Peer], workers: int) -> dict[str, Server]:
    env = {**os.environ, "TZ": "UTC", "PYTHONPATH": str(ROOT)}
    ours_env = {**env, "LARDER_LOG_DIR": str(work / "predictions")}
    common = ("--workers", str(workers), "--no-access-log")
    feast = str(Path(sys.executable).parent / "feast")
    ours = (sys.executable, "-m", "serving", "--port", str(PORTS[OURS]), *common)
    servers = {OURS: Server(OURS, PORTS[OURS], ours, ROOT, ours_env, "/ready")}
    for label, peer in peers.items():
        command = (feast, "serve", "--port", str(PORTS[label]), *common, "--max-requests", "0")
        servers[label] = Server(label, PORTS[label], command, peer.repo, env, "/health")
    return servers


def workload_groups(
    servers: dict[str, Server], files: dict[str, Path], refused: dict[str, str]
) -> list[list[Target]]:
    """The targets that take turns at each concurrency. /predict is in the 1-entity group,
    so it alternates with the peers' 1-entity reads it is compared with."""
    read = "/get-online-features"
    groups = [
        [
            Target(workload, servers[OURS], read, files[f"features {rows}"]),
            Target(workload, servers[STOCK], read, files[f"features {rows}"]),
            Target(workload, servers[PRECOMPUTE], read, files[f"service {rows}"]),
        ]
        for rows, workload in ((1, ONE), (100, HUNDRED))
    ]
    groups[0].append(Target(PREDICT, servers[OURS], "/predict", files["predict"]))
    left_out = {PRECOMPUTE} if refused else set()
    return [[t for t in group if t.server.label not in left_out] for group in groups]


def load(groups: Sequence[Sequence[Target]], procs: dict, seconds: int, runs: int) -> list[dict]:
    """Every target at every concurrency, `runs` times, taking turns; one sample a run."""
    samples = []
    for group, c, run in itertools.product(groups, CONCURRENCY, range(runs)):
        turn = run % len(group)
        for target in [*group[turn:], *group[:turn]]:
            url = target.server.url(target.path)
            result = measure(url, target.bodies, c, seconds, procs[target.server.label])
            sample = {"workload": target.workload, "server": target.server.label, "c": c}
            samples.append({**sample, **result})
            log(progress(samples[-1], run))
    return samples


def progress(sample: dict, run: int) -> str:
    """One line per run as it ends, so a long run shows where it is and what went wrong."""
    line = (
        f"{sample['workload']} | {sample['server']} | c={sample['c']} | run {run + 1}: "
        f"{sample['rps']:.0f} req/s, p99 {sample['p99']:.1f} ms, {sample['cpu_ms']:.2f} CPU ms/req"
    )
    if sample["non2xx"]:
        line += f", {sample['non2xx']} non-2xx"
    if sample["socket_errors"]:
        line += f", {sample['socket_errors']} socket errors"
    return line


def title(args: argparse.Namespace, start: Sequence[float], end: Sequence[float]) -> str:
    return (
        f"# Serving benchmark ({args.workers} workers each, wrk, {args.seconds} s per run, "
        f"median of {args.runs} run{'s' if args.runs > 1 else ''}, load average "
        f"{start[0]:.2f} at the start, {end[0]:.2f} at the end)"
    )


def conditions(
    args: argparse.Namespace, start: Sequence[float], end: Sequence[float], as_of: str
) -> str:
    import feast

    commit = command_output("git", "rev-parse", "--short", "HEAD")
    wrk = command_output("wrk", "--version").split(" [")[0]
    loads = " / ".join(f"{a:.2f}-{b:.2f}" for a, b in zip(start, end, strict=True))
    return (
        f"## Conditions\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit "
        f"{commit}, {os.cpu_count()} cores (shared), {args.workers} workers per server, "
        f"Feast {feast.__version__}, {wrk} with one thread. Load average (1 / 5 / 15 min) "
        f"at the start and the end of the load: {loads}. Each request draws one of {POOL} "
        f"real bodies per workload; ours read as of {as_of} (the data's watermark), the peers "
        "ignore `as_of` and the ttl, so both answer the same values. c is wrk's connections. "
        "p50 and p99 are wrk's; every figure is the median over the runs, the req/s range "
        "their lowest and highest, errors their sum. CPU ms/req: user + system time of the "
        "server's processes during a run, over its requests. /predict rows are compared with "
        "the peers' features-only answer for one entity at the same concurrency."
    )


def precompute_section(refused: dict[str, str], peer: Peer) -> str:
    head = f"## {PRECOMPUTE} (FeatureService {PRECOMPUTED})"
    if not refused:
        return (
            f"{head}\n\nServed from its precomputed vectors: rows `{PRECOMPUTE}` above. Feast "
            "checks their ttl against the wall clock, so they may be OUTSIDE_MAX_AGE."
        )
    answers = "\n".join(f"- {workload}: {code(answer)}" for workload, answer in refused.items())
    logged = "\n".join(f"- {code(note)}" for note in peer.notes) or "- nothing"
    return (
        f"{head}\n\nNot loaded: it does not answer a read by the service's name.\n\n"
        f"Its answers:\n\n{answers}\n\nWhat `feast materialize` logged about precomputing:"
        f"\n\n{logged}\n\n{PRECOMPUTE_WHY}"
    )


def code(text: str) -> str:
    """`text` as inline Markdown code, even when it holds backticks."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def command_output(*command: str) -> str:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True).stdout.strip()


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
