"""The servers under load: started as users start them, stopped whatever happens.

`running(servers)` starts every server, waits until each answers its readiness route, and on
leaving (normally or by an error) terminates each one and every worker process it forked.
"""

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # a dependency of feast

START_TIMEOUT_S = 180


@dataclass(frozen=True)
class Server:
    label: str
    port: int
    command: tuple[str, ...]
    cwd: Path
    env: dict[str, str] = field(repr=False)
    ready: str  # the route that answers 200 once it serves

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def running(servers: Sequence[Server]) -> Iterator[dict[str, subprocess.Popen]]:
    """Each server's process by label, all started and ready; all stopped on exit."""
    procs: dict[str, subprocess.Popen] = {}
    try:
        for server in servers:
            procs[server.label] = subprocess.Popen(
                server.command,
                cwd=server.cwd,
                env=server.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for server in servers:
            wait_for(server, procs[server.label])
        yield procs
    finally:
        for proc in procs.values():
            stop(proc)


def wait_for(server: Server, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{server.label} exited with status {proc.returncode} at start")
        try:
            urllib.request.urlopen(server.url(server.ready), timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{server.label} did not answer {server.ready} in {START_TIMEOUT_S} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server (its supervisor stops its workers); then kill what is left."""
    try:
        workers = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        workers = []
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    for worker in alive:
        worker.kill()


def cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU time of a server and all its worker processes so far."""
    root = psutil.Process(proc.pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def post(url: str, body: dict) -> tuple[int, Any]:
    """The status and the answer of one POST (an error's too), as JSON, else as text."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text
