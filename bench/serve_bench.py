"""Serving benchmark: this server against stock `feast serve`, same repo, same run, same workers.

    TZ=UTC .venv/bin/python bench/serve_bench.py [--seconds 10] [--workers 2]

Starts both servers as users would (`python -m serving --workers N --no-access-log`, and
`feast serve --workers N --no-access-log --max-requests 0`), checks that they answer the same
values for every benchmark body, then loads each with wrk (Debian's `wrk` package) at
concurrency 1, 8 and 32, and writes the table to bench/results/serve.md.

Bodies: /get-online-features for 1 and 100 entities (every feature of the three feature views
of flight_delay_v1, by reference), and /predict for one flight (ours only; compared with the
peer's features-only answer for one entity). Reads carry `as_of` = the data's watermark, which
Feast ignores: the data is from 2013, so at the wall clock every value would be stale.

The two servers take turns at each concurrency (ours, then the peer), so a change in the
machine's other load shifts both sides of a ratio alike. Besides throughput and latency, the
table gives the CPU time each server's processes used per request during the run (user +
system, all workers): unlike req/s, it hardly depends on what else the machine runs.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS, PEER = 8101, 8102
VIEWS = ("aircraft_history", "carrier_performance", "origin_weather")
CONCURRENCY = (1, 8, 32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    bodies = make_bodies()
    with servers(args.workers) as procs:
        parity = {name: same_values(body) for name, body in bodies.items() if name != "predict"}
        runs = [
            (server, name, body, c)
            for name, body in bodies.items()
            for c in CONCURRENCY
            for server in (("ours", OURS), ("feast serve", PEER))
            if not (name == "predict" and server[1] == PEER)
        ]
        rows = [
            run(server, name, body, c, args.seconds, procs[server[1]])
            for server, name, body, c in runs
        ]
    order = list(bodies)  # the table groups by workload, ours first; sorting keeps c in order
    rows.sort(key=lambda r: (order.index(r["workload"]), r["server"] != "ours"))
    report(rows, parity, args)


def make_bodies() -> dict[str, dict]:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(ROOT / "feature_repo"))
    service = store.get_feature_service("flight_delay_v1")
    refs = [
        f"{p.name}:{f.name}"
        for p in service.feature_view_projections
        if p.name in VIEWS
        for f in p.features
    ]
    import pandas as pd

    offline = ROOT / "feature_repo" / "data" / "offline"
    flights = pd.read_parquet(offline / "flight_outcomes.parquet").dropna(subset=["tailnum"])
    as_of = json.loads((offline / "_watermark.json").read_text())["as_of"]
    last = flights.sort_values("scheduled_departure").tail(100)
    entities = {k: last[k].astype(str).tolist() for k in ("tailnum", "carrier", "origin")}
    one = {k: v[-1:] for k, v in entities.items()}
    flight = {
        **{k: v[0] for k, v in one.items()},
        "dest": str(last["dest"].iloc[-1]),
        "scheduled_departure": as_of,
        "distance": int(last["distance"].iloc[-1]),
    }
    return {
        "features, 1 entity": {"entities": one, "features": refs, "as_of": as_of},
        "features, 100 entities": {"entities": entities, "features": refs, "as_of": as_of},
        "predict": flight,
    }


class servers:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> dict[int, subprocess.Popen]:
        env = {
            **os.environ,
            "TZ": "UTC",
            "PYTHONPATH": str(ROOT),
            "LARDER_LOG_DIR": tempfile.mkdtemp(prefix="bench-predictions-"),
        }
        py = sys.executable
        w = str(self.workers)
        self.procs = [
            subprocess.Popen(
                [py, "-m", "serving", "--port", str(OURS), "--workers", w, "--no-access-log"],
                cwd=ROOT,
                env=env,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [
                    str(Path(py).parent / "feast"),
                    "-c",
                    "feature_repo",
                    "serve",
                    "--port",
                    str(PEER),
                    "--workers",
                    w,
                    "--no-access-log",
                    "--max-requests",
                    "0",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        for port, path in ((OURS, "/ready"), (PEER, "/health")):
            wait_for(port, path)
        return dict(zip((OURS, PEER), self.procs, strict=True))

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)


def wait_for(port: int, path: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server on port {port} did not start")


def post(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        json.dumps(body).encode(),
        {"content-type": "application/json"},
    )
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


def same_values(body: dict) -> str:
    """'identical' when every value, status and timestamp we serve equals Feast's."""
    ours, theirs = (post(p, "/get-online-features", body) for p in (OURS, PEER))
    named = [
        dict(zip(r["metadata"]["feature_names"], r["results"], strict=True)) for r in (ours, theirs)
    ]
    stale = differ = 0
    for name, mine in named[0].items():
        for i, status in enumerate(mine["statuses"]):
            peer = named[1][name]
            if status == "OUTSIDE_MAX_AGE":
                stale += 1
            elif (mine["values"][i], status, mine["event_timestamps"][i]) != (
                peer["values"][i],
                peer["statuses"][i],
                peer["event_timestamps"][i],
            ):
                differ += 1
    cells = sum(len(r["statuses"]) for r in named[0].values())
    same = cells - stale - differ
    return f"{cells} cells: {same} identical, {stale} stale (withheld), {differ} different"


def cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU time of a server and all its worker processes so far."""
    import psutil  # a dependency of feast

    root = psutil.Process(proc.pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def run(
    server: tuple[str, int], name: str, body: dict, c: int, seconds: int, proc: subprocess.Popen
) -> dict:
    label, port = server
    path = "/predict" if name == "predict" else "/get-online-features"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
        )
    url = f"http://127.0.0.1:{port}{path}"
    subprocess.run(
        ["wrk", "-t1", "-c", str(c), "-d2s", "-s", script.name, url], capture_output=True
    )
    cpu_before = cpu_seconds(proc)
    out = subprocess.run(
        ["wrk", "-t1", "-c", str(c), f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
    ).stdout
    cpu = cpu_seconds(proc) - cpu_before
    result = parse(out)
    cpu_ms = 1000 * cpu / result["requests"] if result["requests"] else float("nan")
    return {"server": label, "workload": name, "c": c, "cpu_ms": cpu_ms, **result}


def parse(out: str) -> dict:
    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "non2xx": int(errors.group(1)) if errors else 0,
    }


def report(rows: list[dict], parity: dict, args) -> None:
    peer = {(r["workload"], r["c"]): r for r in rows if r["server"] == "feast serve"}
    lines = [
        f"# Serving benchmark ({args.workers} workers each, wrk, {args.seconds} s per run, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end)",
        "",
        "| workload | server | concurrency | req/s | p50 ms | p99 ms | non-2xx | CPU ms/req "
        "| req/s vs feast serve | CPU/req, feast serve / ours |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = peer.get(
            ("features, 1 entity" if r["workload"] == "predict" else r["workload"], r["c"])
        )
        ours = base and r["server"] == "ours"
        ratio = f"{r['rps'] / base['rps']:.2f}x" if ours else ""
        cpu_ratio = f"{base['cpu_ms'] / r['cpu_ms']:.2f}x" if ours else ""
        lines.append(
            f"| {r['workload']} | {r['server']} | {r['c']} | {r['rps']:.0f} | "
            f"{r['p50']:.2f} | {r['p99']:.2f} | {r['non2xx']} | {r['cpu_ms']:.2f} | "
            f"{ratio} | {cpu_ratio} |"
        )
    lines += ["", "Same values as Feast (before the load):", ""]
    lines += [f"- {name}: {verdict}" for name, verdict in parity.items()]
    out = ROOT / "bench" / "results" / "serve.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
