"""Before the load: every server answers its bodies, and ours answers what Feast does.

Each server's first body of each workload must get a 200 (the precompute peer may refuse: the
bench reports its answer and leaves it out). Then, for a sample of the random bodies, every
value, status and timestamp ours serves must equal the stock peer's (and the precompute
peer's, when it answers), feature by feature.
"""

import itertools
import json
from collections import Counter
from pathlib import Path

from bench.serve_report import HUNDRED, ONE, OURS, PRECOMPUTE, PREDICT, STOCK
from bench.serve_servers import Server, post

PARITY_SAMPLE = 30  # bodies per workload checked before the load


def check_answers(servers: dict[str, Server], files: dict[str, Path]) -> dict[str, str]:
    """Each server's answer to its first body of each workload must be a 200. The precompute
    peer may fail (returned: its status and answer by workload); ours or the stock peer may
    not."""
    refused = {}
    for label, path, name, workload in _first_bodies():
        status, answer = post(servers[label].url(path), _body(files[name], 0))
        if status == 200:
            continue
        if label != PRECOMPUTE:
            raise SystemExit(f"{label} answered {path} with {status}: {answer}")
        refused[workload] = f"{status}: {answer}"
    return refused


def _first_bodies() -> list[tuple[str, str, str, str]]:
    """(server, route, file of bodies, workload) of every target."""
    read = "/get-online-features"
    return [
        (OURS, read, "features 1", ONE),
        (OURS, read, "features 100", HUNDRED),
        (OURS, "/predict", "predict", PREDICT),
        (STOCK, read, "features 1", ONE),
        (STOCK, read, "features 100", HUNDRED),
        (PRECOMPUTE, read, "service 1", ONE),
        (PRECOMPUTE, read, "service 100", HUNDRED),
    ]


def check_parity(
    servers: dict[str, Server], files: dict[str, Path], refused: dict[str, str]
) -> dict[str, Counter]:
    """Cells compared, ours against each peer that answers, over a sample of the bodies."""
    url = {label: s.url("/get-online-features") for label, s in servers.items()}
    out = {}
    peers = (STOCK,) if refused else (STOCK, PRECOMPUTE)
    for rows, peer in itertools.product((1, 100), peers):
        theirs = f"{'features' if peer == STOCK else 'service'} {rows}"
        cells: Counter = Counter()
        for i in range(PARITY_SAMPLE):
            mine = _answer(url[OURS], _body(files[f"features {rows}"], i))
            cells += same_values(mine, _answer(url[peer], _body(files[theirs], i)))
        out[f"{ONE if rows == 1 else HUNDRED}, ours vs {peer}"] = cells
    return out


def _answer(url: str, body: dict) -> dict:
    status, answer = post(url, body)
    if status != 200:
        raise SystemExit(f"{url} answered {status} to {json.dumps(body)[:200]}...: {answer}")
    return answer


def _body(path: Path, i: int) -> dict:
    with path.open() as lines:
        return json.loads(next(itertools.islice(lines, i, None)))


def same_values(ours: dict, theirs: dict) -> Counter:
    """Cells by verdict: 'identical' when a value, status and timestamp we serve equals the
    peer's; 'stale' when ours withholds it as older than its ttl; else 'different'. Keyed by
    feature name, never by position."""
    named = [
        dict(zip(r["metadata"]["feature_names"], r["results"], strict=True)) for r in (ours, theirs)
    ]
    verdicts: Counter = Counter()
    for name, mine in named[0].items():
        peer = named[1][name]
        for i, status in enumerate(mine["statuses"]):
            if status == "OUTSIDE_MAX_AGE":
                verdicts["stale"] += 1
            elif (mine["values"][i], status, mine["event_timestamps"][i]) == (
                peer["values"][i],
                peer["statuses"][i],
                peer["event_timestamps"][i],
            ):
                verdicts["identical"] += 1
            else:
                verdicts["different"] += 1
    return verdicts


def parity_section(parity: dict[str, Counter]) -> str:
    lines = [f"## Same answers as Feast (before the load, {PARITY_SAMPLE} bodies each)", ""]
    for name, cells in parity.items():
        lines.append(
            f"- {name}: {cells.total()} cells: {cells['identical']} identical, "
            f"{cells['stale']} stale (withheld by ours), {cells['different']} different"
        )
    return "\n".join(lines)
