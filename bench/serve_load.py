"""One load run: wrk against one server with random real bodies, and the CPU the server used.

wrk (Debian's `wrk` package) runs one thread, which keeps its own CPU small on a shared
machine, and bench/serve_keys.lua draws a body per request from a file of bodies. A short
warm-up first opens the connections and fills the servers' lazy caches, uncounted. wrk's own
timeout (2 s) would leave the slowest answers out of the latencies, as socket errors: it is
raised past any answer a run sees.
"""

import re
import subprocess
from pathlib import Path

from bench.serve_servers import cpu_seconds

SCRIPT = Path(__file__).resolve().parent / "serve_keys.lua"
WARM_UP_S = 2
TIMEOUT_S = 60


def measure(url: str, bodies: Path, c: int, seconds: int, proc: subprocess.Popen) -> dict:
    """req/s, p50 and p99 (ms), non-2xx, and CPU ms per request of `proc` and its workers."""
    wrk(url, bodies, c, min(WARM_UP_S, seconds))
    before = cpu_seconds(proc)
    result = parse(wrk(url, bodies, c, seconds))
    cpu = cpu_seconds(proc) - before
    result["cpu_ms"] = 1000 * cpu / result["requests"] if result["requests"] else float("nan")
    return result


def wrk(url: str, bodies: Path, c: int, seconds: int) -> str:
    command = ["wrk", "-t1", f"-c{c}", f"-d{seconds}s", f"--timeout={TIMEOUT_S}s", "--latency"]
    command += ["-s", str(SCRIPT), url]
    done = subprocess.run([*command, "--", str(bodies)], capture_output=True, text=True)
    if done.returncode != 0 or "requests in" not in done.stdout:
        raise SystemExit(f"wrk failed against {url}:\n{done.stdout}{done.stderr}")
    return done.stdout


def parse(out: str) -> dict:
    """wrk's report: requests, req/s, p50 and p99 in ms, non-2xx responses, and socket errors
    (connect, read, write and timeout, summed)."""

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: (.*)", out)
    counts = re.findall(
        r"\b(?:connect|read|write|timeout) (\d+)", sockets.group(1) if sockets else ""
    )
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(n) for n in counts),
    }
