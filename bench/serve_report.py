"""The serving benchmark's table: medians over runs per (workload, server, concurrency).

A row's ratios compare it with the stock peer and the precompute peer at the same workload and
concurrency; /predict is compared with the peers' features-only answer for one entity, the
nearest thing a stock Feast server does.
"""

import statistics
from collections.abc import Sequence
from pathlib import Path

OURS, STOCK, PRECOMPUTE = "ours", "feast serve", "feast serve, precompute_online"
ONE, HUNDRED, PREDICT = "features, 1 entity", "features, 100 entities", "predict, 1 flight"
BASE = {PREDICT: ONE}  # the peers' workload a workload is compared with
ORDER = (ONE, HUNDRED, PREDICT)
SERVERS = (OURS, STOCK, PRECOMPUTE)
HEAD = (
    "| workload | server | c | req/s | req/s range | p50 ms | p99 ms | p99/p50 | non-2xx "
    "| socket errors | CPU ms/req | req/s vs feast serve | req/s vs precompute "
    "| CPU/req, feast serve / this |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
)


def summarize(samples: Sequence[dict]) -> list[dict]:
    """One row per (workload, server, c): medians over the runs, errors summed."""
    groups: dict[tuple, list[dict]] = {}
    for s in samples:
        groups.setdefault((s["workload"], s["server"], s["c"]), []).append(s)
    rows = [
        {"workload": workload, "server": server, "c": c, **over_runs(runs)}
        for (workload, server, c), runs in groups.items()
    ]
    return sorted(rows, key=lambda r: (ORDER.index(r["workload"]), r["c"], _rank(r["server"])))


def over_runs(runs: Sequence[dict]) -> dict:
    """One point's figures over its runs: medians, the req/s range, errors summed."""
    return {
        "runs": len(runs),
        **{k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "cpu_ms")},
        "rps_range": (min(r["rps"] for r in runs), max(r["rps"] for r in runs)),
        **{k: sum(r[k] for r in runs) for k in ("non2xx", "socket_errors")},
    }


def _rank(server: str) -> int:
    return SERVERS.index(server)


def table(rows: Sequence[dict]) -> list[str]:
    by_key = {(r["workload"], r["server"], r["c"]): r for r in rows}
    return [*HEAD, *(_line(r, by_key) for r in rows)]


def _line(r: dict, by_key: dict) -> str:
    base = BASE.get(r["workload"], r["workload"])
    stock = by_key.get((base, STOCK, r["c"]))
    pre = by_key.get((base, PRECOMPUTE, r["c"]))
    low, high = r["rps_range"]
    cells = [
        r["workload"],
        r["server"],
        str(r["c"]),
        f"{r['rps']:.0f}",
        f"{low:.0f}-{high:.0f}",
        f"{r['p50']:.2f}",
        f"{r['p99']:.2f}",
        f"{r['p99'] / r['p50']:.1f}",
        str(r["non2xx"]),
        str(r["socket_errors"]),
        f"{r['cpu_ms']:.2f}",
        _ratio(r["rps"], stock and stock["rps"], r is stock),
        _ratio(r["rps"], pre and pre["rps"], r is pre),
        _ratio(stock and stock["cpu_ms"], r["cpu_ms"], r is stock),
    ]
    return f"| {' | '.join(cells)} |"


def _ratio(top: float | None, bottom: float | None, itself: bool) -> str:
    return "" if itself or not (top and bottom) else f"{top / bottom:.2f}x"


def write(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
