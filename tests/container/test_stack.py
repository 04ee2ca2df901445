"""The platform's image and the server tier in containers (deploy/container), for real:
build.sh builds the images (every cached step reused), compose.yaml starts Redis, PostgreSQL
and the MLflow tracking server under a project of the test's own, the jobs' containers ingest
the flights slice, materialize it into Redis and train its model on the tracking server, and
then both serving replicas are ready and answer a /predict. The project's containers, volumes
and network are removed whatever happens. Only the replicas are published, on free ports."""

import json
import os
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT, SLICES
from tests.serving.conftest import MODEL, SERVICE, http_json

pytestmark = pytest.mark.container

HERE = ROOT / "deploy" / "container"
ENGINE = "podman"
COMPOSE = shlex.split(os.environ.get("LARDER_COMPOSE", "podman-compose"))
FLIGHTS = SLICES["flights"]
SERVICES = ("redis", "postgres", "mlflow")
REPLICAS = ("serving-1", "serving-2")
# Run in the MLflow container (the platform's image): every service answers.
PROBE = """
import urllib.request, psycopg, redis
redis.Redis(host="redis", socket_timeout=2).ping()
psycopg.connect("host=postgres user=larder password=larder dbname=larder connect_timeout=2").close()
urllib.request.urlopen("http://127.0.0.1:5000/health", timeout=2)
"""


@dataclass(frozen=True)
class Stack:
    project: str
    urls: dict[str, str]  # replica: its base URL on this machine


def _run(command: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _check(command: list[str], env: dict[str, str], timeout: float, what: str) -> str:
    done = _run(command, env, timeout)
    if done.returncode:
        pytest.fail(f"{what} failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _label(project: str) -> str:
    return f"label=io.podman.compose.project={project}"


def _container(project: str, service: str, env: dict[str, str]) -> str:
    found = _check(
        [ENGINE, "ps", "--filter", _label(project),
         "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}"],
        env, 60, f"finding {service}",
    ).split()  # fmt: skip
    assert found, f"no running container of {service} in {project}"
    return found[0]


def _logs(project: str, env: dict[str, str]) -> str:
    listed = [ENGINE, "ps", "-a", "--filter", _label(project), "--format", "{{.Names}}"]
    said = []
    for name in _run(listed, env, 60).stdout.split():
        logs = _run([ENGINE, "logs", "--tail", "15", name], env, 60)
        said.append(f"--- {name}\n{(logs.stdout + logs.stderr)[-1500:]}")
    return "\n".join(said)


def _wait_for_services(project: str, env: dict[str, str]) -> None:
    mlflow = _container(project, "mlflow", env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if _run([ENGINE, "exec", mlflow, "python", "-c", PROBE], env, 60).returncode == 0:
            return
        time.sleep(2)
    pytest.fail(f"Redis, PostgreSQL or MLflow not answering after 300 s:\n{_logs(project, env)}")


def _job(compose: list[str], project: str, service: str, env: dict[str, str]) -> str:
    """A job's container to its end: its output, or the test fails with it. (Debian's
    podman-compose 1.0.3 exits 0 whatever the container's status: the engine's `wait` says.)"""
    name = f"{project}-{service}-job"
    _check([*compose, "run", "-d", "--no-deps", "-T", "--name", name, service], env, 120, service)
    try:
        status = _check([ENGINE, "wait", name], env, 900, f"waiting for {service}").strip()
        logs = _run([ENGINE, "logs", name], env, 60)
        said = logs.stdout + logs.stderr
        if status != "0":
            pytest.fail(f"the {service} job exited with {status}: {said[-3000:]}")
        return said
    finally:
        _run([ENGINE, "rm", "-f", name], env, 60)


def _wait_ready(urls: dict[str, str], project: str, env: dict[str, str]) -> None:
    deadline = time.monotonic() + 300
    waiting = dict(urls)
    while waiting and time.monotonic() < deadline:
        for replica, url in list(waiting.items()):
            try:
                if http_json(f"{url}/ready")[0] == 200:
                    del waiting[replica]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet, or the container restarting
        time.sleep(1)
    if waiting:
        pytest.fail(f"{', '.join(waiting)} not ready within 300 s:\n{_logs(project, env)}")


def _down(compose: list[str], project: str, env: dict[str, str]) -> None:
    """Everything of the project, whatever state it was left in."""
    _run([*compose, "down", "-v"], env, 300)
    for kind, listing in (
        ("container", ["ps", "-a", "-q"]),
        ("volume", ["volume", "ls", "-q"]),
        ("network", ["network", "ls", "-q"]),
    ):
        found = _run([ENGINE, *listing, "--filter", _label(project)], env, 60).stdout.split()
        if found:
            remove = ["rm", "-f"] if kind == "container" else [kind, "rm", "-f"]
            _run([ENGINE, *remove, *found], env, 120)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    for tool in (ENGINE, COMPOSE[0]):
        if shutil.which(tool) is None:
            pytest.fail(f"no `{tool}`: run `deploy/container/build.sh install` (as root)")
    env = {**os.environ, "TZ": "UTC"}
    _check([str(HERE / "build.sh")], env, 1800, "deploy/container/build.sh")
    project = f"larder-test-{os.getpid()}"
    ports = dict(zip(REPLICAS, _free_ports(len(REPLICAS)), strict=True))
    env.update(
        LARDER_SERVING_1_PORT=str(ports["serving-1"]),
        LARDER_SERVING_2_PORT=str(ports["serving-2"]),
        LARDER_LANDING_DIR=str(FLIGHTS.data),
        LARDER_LANDING="/landing",
        LARDER_VALIDATION_START=FLIGHTS.validation_start.isoformat(),
        LARDER_TEST_START=FLIGHTS.test_start.isoformat(),
        LARDER_TUNE_BUDGET="0",
    )
    compose = [*COMPOSE, "-p", project, "-f", str(HERE / "compose.yaml")]
    try:
        _check([*compose, "up", "-d", *SERVICES], env, 300, "starting the services")
        _wait_for_services(project, env)
        _job(compose, project, "pipeline", env)
        _job(compose, project, "train", env)
        _check([*compose, "up", "-d", *REPLICAS], env, 300, "starting the replicas")
        urls = {replica: f"http://127.0.0.1:{port}" for replica, port in ports.items()}
        _wait_ready(urls, project, env)
        yield Stack(project, urls)
    finally:
        _down(compose, project, env)


@pytest.fixture(scope="module")
def example(stack: Stack) -> dict:
    """A /predict body from the served data (`python -m serving --example`, in a replica)."""
    env = {**os.environ, "TZ": "UTC"}
    replica = _container(stack.project, "serving-1", env)
    command = [ENGINE, "exec", replica, "larder-entrypoint", "serving", "--example"]
    said = _check(command, env, 300, "python -m serving --example")
    return json.loads(said.strip().splitlines()[-1])


def test_both_replicas_are_ready_on_the_trained_champion(stack: Stack) -> None:
    for replica, url in stack.urls.items():
        status, ready = http_json(f"{url}/ready")
        assert status == 200, (replica, ready)
        assert ready["status"] == "ready"
        assert ready["model"] == {"name": MODEL, "version": "1"}
        assert ready["feature_service"] == SERVICE


def test_each_replica_predicts_from_the_stacks_online_store(stack: Stack, example: dict) -> None:
    answers = {}
    for replica, url in stack.urls.items():
        status, answer = http_json(f"{url}/predict", example)
        assert status == 200, (replica, answer)
        assert 0 <= answer["delay_probability"] <= 1
        assert answer["model"] == {"name": MODEL, "version": "1"}
        # The replicas read one online store, which the pipeline's container filled.
        assert any(f["status"] == "present" for f in answer["features"].values()), answer
        answers[replica] = answer
    first, second = answers.values()
    assert first["delay_probability"] == second["delay_probability"]
    assert first["features"] == second["features"]
