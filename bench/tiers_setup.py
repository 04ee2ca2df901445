"""The deployment tiers under test: each a copy of the domain, built by the pipeline's stages.

Every tier gets a folder of its own (the domain's declarations and its offline store, copied;
no registry, online store, tier file or prediction log), so the original repo's stores are
never touched, and stores of its own on the services of `make services-up`: Redis database
`REDIS_DB`, emptied first, and a PostgreSQL database `larder_bench_<pid>`, created fresh; both
are emptied or dropped on leaving. The tier is then applied and materialized with `python -m
pipelines apply` and `materialize` (its online = offline check included) under its
LARDER_TIER, as a user would, and the materialization timed. All tiers serve the original's
MLflow champion (MLFLOW_TRACKING_URI is the original's SQLite store, only read).

`started` runs `python -m serving` on a tier as users start it and times its start: from the
process's start to the first 200 from /ready.
"""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil  # a dependency of feast

from bench.serve_servers import Server, stop

ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT / "feature_repo"
EMBEDDED, REDIS, POSTGRES = "embedded", "redis", "postgres"
OVERLAYS = {
    EMBEDDED: None,
    REDIS: ROOT / "deploy" / "tiers" / "redis",
    POSTGRES: ROOT / "deploy" / "tiers" / "postgres",
}
REDIS_DB = 14  # the benchmark's own Redis database (the tier tests use 13)
PG_ADMIN_DB = "larder"  # where the benchmark's database is created from
# Set per tier below: whatever the caller's shell says is not what a tier runs with.
OWN = ("LARDER_TIER", "LARDER_FEATURE_REPO", "LARDER_REDIS", "LARDER_PG_DATABASE", "LARDER_LOG_DIR")
START_TIMEOUT_S = 300
POLL_S = 0.05


@dataclass(frozen=True)
class Tier:
    """A tier's built copy of the domain and the environment its processes run with; `failed`
    says why it cannot be measured (then the other fields are what was reached)."""

    name: str
    repo: Path
    env: dict[str, str]
    apply_s: float = float("nan")
    materialize_s: float = float("nan")  # the stage's own wall time, as the CLI prints it
    command_s: float = float("nan")  # `python -m pipelines materialize`, interpreter included
    materialized: str = ""  # what the stage said it did
    failed: str | None = None


def redis_port() -> int:
    return int(os.environ.get("LARDER_REDIS_PORT", "6379"))


def pg_port() -> str:
    return os.environ.get("LARDER_PG_PORT", "5432")


def check_services() -> list[str]:
    """Each service answers, else exit naming the one that does not; their versions."""
    checks = {
        "Redis": ["redis-cli", "-p", str(redis_port()), "ping"],
        "PostgreSQL": [
            *("psql", "-h", "127.0.0.1", "-p", pg_port(), "-U", "larder", "-d", PG_ADMIN_DB),
            *("-tAc", "select version()"),
        ],
    }
    versions = []
    for name, command in checks.items():
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SystemExit(f"{name} cannot be checked ({exc}): run `make services-up`") from None
        if done.returncode != 0 or not done.stdout.strip():
            said = (done.stderr or done.stdout).strip() or f"status {done.returncode}"
            raise SystemExit(
                f"{name} is not answering ({' '.join(command)}: {said}): run `make services-up` "
                "(deploy/services.sh)"
            )
        versions.append(done.stdout.strip())
    redis_info = subprocess.run(
        ["redis-cli", "-p", str(redis_port()), "info", "server"], capture_output=True, text=True
    ).stdout
    found = re.search(r"redis_version:(\S+)", redis_info)
    return [f"Redis {found.group(1) if found else '?'}", versions[1].split(" on ")[0]]


@contextlib.contextmanager
def services() -> Iterator[dict[str, str]]:
    """The tiers' connection settings to stores of their own: an emptied Redis database and a
    new PostgreSQL database; emptied and dropped on leaving, whatever happens."""
    import psycopg
    import redis

    client = redis.Redis(port=redis_port(), db=REDIS_DB)
    client.flushdb()
    database = f"larder_bench_{os.getpid()}"
    admin = f"host=localhost port={pg_port()} user=larder dbname={PG_ADMIN_DB}"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        db.execute(f"CREATE DATABASE {database}")
    try:
        yield {
            "LARDER_REDIS": f"localhost:{redis_port()},db={REDIS_DB}",
            "LARDER_PG_DATABASE": database,
        }
    finally:
        client.flushdb()
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def tier_env(name: str, repo: Path, work: Path, stores: dict[str, str]) -> dict[str, str]:
    """What every process of tier `name` runs with: TZ=UTC, its domain copy, its tier (none
    for embedded) and store, the original's champion, a prediction log of its own."""
    env = {k: v for k, v in os.environ.items() if k not in OWN}
    env |= {
        "TZ": "UTC",
        "PYTHONPATH": str(ROOT),
        "LARDER_FEATURE_REPO": str(repo),
        "LARDER_LOG_DIR": str(work / f"predictions-{name}"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{REPO / 'data' / 'mlflow' / 'mlflow.db'}",
    }
    overlay = OVERLAYS[name]
    if overlay is not None:
        env["LARDER_TIER"] = str(overlay)
    if name == REDIS:
        env["LARDER_REDIS"] = stores["LARDER_REDIS"]
    if name == POSTGRES:
        env["LARDER_PG_DATABASE"] = stores["LARDER_PG_DATABASE"]
    return env


def copy_domain(work: Path, name: str) -> Path:
    """The domain's declarations and offline store (the only zone apply, materialize and
    serving read) in `work/name`: no registry, online store, tier file or prediction log."""
    repo = work / name / REPO.name
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    shutil.copytree(REPO / "data" / "offline", repo / "data" / "offline")
    return repo


def build(name: str, work: Path, stores: dict[str, str]) -> Tier:
    """Tier `name` applied and materialized by the pipelines CLI in a copy of the domain."""
    repo = copy_domain(work, name)
    tier = Tier(name, repo, tier_env(name, repo, work, stores))
    apply_s, said, failed = _stage(tier, "apply")
    if failed:
        return _with(tier, apply_s=apply_s, failed=f"apply: {failed}")
    started = time.perf_counter()
    materialize_s, said, failed = _stage(tier, "materialize")
    command_s = time.perf_counter() - started
    return _with(
        tier,
        apply_s=apply_s,
        materialize_s=materialize_s,
        command_s=command_s,
        materialized=said,
        failed=f"materialize: {failed}" if failed else None,
    )


def _stage(tier: Tier, stage: str) -> tuple[float, str, str | None]:
    """`python -m pipelines STAGE` on the tier: its own wall time and line, or what failed."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", stage],
        cwd=ROOT,
        env=tier.env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(f"[{stage}]")]
    if done.returncode != 0 or not lines:
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        return float("nan"), "", said[-1] if said else f"status {done.returncode}"
    seconds = re.search(r"\(([\d.]+) s\)$", lines[-1])
    return float(seconds.group(1)) if seconds else float("nan"), lines[-1], None


def _with(tier: Tier, **changes) -> Tier:
    return Tier(**{**tier.__dict__, **changes})


def server(tier: Tier, port: int, workers: int) -> Server:
    """`python -m serving` on the tier, as users start it (`make serve`'s options)."""
    options = ("--port", str(port), "--workers", str(workers), "--no-access-log")
    command = (sys.executable, "-m", "serving", *options)
    return Server(tier.name, port, command, ROOT, tier.env, "/ready")


@contextlib.contextmanager
def started(s: Server, log: Path) -> Iterator[tuple[subprocess.Popen, float]]:
    """The server's process, and the seconds from its start to the first 200 from its
    readiness route; stopped, workers and all, on leaving. Its output goes to `log`, whose
    last line is the error when it does not start."""
    with log.open("ab") as out:
        begun = time.perf_counter()
        proc = subprocess.Popen(s.command, cwd=s.cwd, env=s.env, stdout=out, stderr=out)
    try:
        yield proc, _ready(s, proc, begun, log)
    finally:
        stop(proc)


def _ready(s: Server, proc: subprocess.Popen, begun: float, log: Path) -> float:
    url = s.url(s.ready)
    while time.perf_counter() - begun < START_TIMEOUT_S:
        if proc.poll() is not None:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line]
            raise StartError(f"exited with status {proc.returncode}: {lines[-1] if lines else ''}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return time.perf_counter() - begun
        except OSError:  # refused while it starts, 503 until its first read and prediction
            pass
        time.sleep(POLL_S)
    raise StartError(f"did not answer {s.ready} with 200 in {START_TIMEOUT_S} s")


class StartError(Exception):
    """A server that exited or never got ready; the message says which, and its last line."""


def memory_mb(proc: subprocess.Popen) -> tuple[float, float]:
    """Resident memory of the server and all its workers, summed: RSS and PSS (shared pages
    counted once across them), in MiB."""
    root = psutil.Process(proc.pid)
    rss = pss = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            info = p.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20
