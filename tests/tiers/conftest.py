"""The server tier on real servers (`make services-up`): each domain's built test platform,
copied and run again on a tier of deploy/tiers, beside the embedded original it must agree with.

`tier` is each tier in turn (LARDER_TIER set for the whole of it); every tier gets a store of
its own on the services (a fresh Redis database, a fresh PostgreSQL database), so leftovers of
another run never meet these tests. `tiered` is a domain's platform on the tier, materialized
and parity-checked by the pipeline's own stage, with a server over it and one over the
embedded original.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from larder import tier as tiers
from pipelines import stages
from pipelines.materialize import watermark
from pipelines.settings import PipelineSettings
from serving.app import create_app
from serving.settings import ServingSettings
from tests.conftest import ROOT
from tests.serving.conftest import champion_uri, known_request
from tests.serving.test_push import PUSH_VIEW

SERVICES = ROOT / "deploy" / "services.sh"
TIERS = {
    "redis": ROOT / "deploy" / "tiers" / "redis",
    "postgres": ROOT / "deploy" / "tiers" / "postgres",
    "server": ROOT / "deploy" / "tiers" / "server",
}
REDIS_DB = "13"  # the tests' own Redis database, emptied when a tier starts
TOKEN = {"Authorization": "Bearer tier-admin"}

pytestmark = pytest.mark.tiers


def services(action: str, name: str) -> None:
    """Start or stop one service of `make services-up` (its data kept)."""
    subprocess.run([str(SERVICES), action, name], check=True, capture_output=True)


def _fresh_redis() -> str:
    import redis

    port = os.environ.get("LARDER_REDIS_PORT", "6379")
    redis.Redis(port=int(port), db=int(REDIS_DB)).flushdb()
    return f"localhost:{port},db={REDIS_DB}"


def _fresh_postgres() -> str:
    import psycopg

    name = f"larder_tests_{os.getpid()}"
    port = os.environ.get("LARDER_PG_PORT", "5432")
    with psycopg.connect(f"host=localhost port={port} user=larder dbname=larder") as db:
        db.autocommit = True
        db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        db.execute(f"CREATE DATABASE {name}")
    return name


@pytest.fixture(scope="session", params=list(TIERS))
def tier(request) -> Iterator[str]:
    """Each tier in turn, LARDER_TIER and its connection settings in the environment."""
    name = request.param
    with pytest.MonkeyPatch.context() as env:
        env.setenv(tiers.TIER, str(TIERS[name]))
        if name in ("redis", "server"):
            env.setenv("LARDER_REDIS", _fresh_redis())
        if name in ("postgres", "server"):
            env.setenv("LARDER_PG_DATABASE", _fresh_postgres())
        yield name


@contextmanager
def embedded() -> Iterator[None]:
    """No tier for a while: what runs here opens the domain's own stores."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv(tiers.TIER, raising=False)
        yield


@dataclass(frozen=True)
class Tiered:
    """A domain on a tier, and the embedded original it was copied from."""

    tier: str
    platform: PipelineSettings
    embedded: PipelineSettings
    client: TestClient  # serving the tier
    reference: TestClient  # serving the embedded original
    store: Any  # the tier's Feast store
    request: dict
    as_of: Any


def on_tier(original: PipelineSettings, base: Path) -> PipelineSettings:
    """A copy of a built platform with no registry or online store (the tier holds them)."""
    copy = base / original.feature_repo.name
    skip = shutil.ignore_patterns("registry", "online", "tiers", "predictions", "__pycache__")
    shutil.copytree(original.feature_repo, copy, ignore=skip)
    return original.model_copy(update={"feature_repo": copy})


@pytest.fixture(scope="session", params=["flights", "storms"])
def tiered(tier, request, platforms, tmp_path_factory) -> Iterator[Tiered]:
    with embedded():  # the original, and its champion, are built on the embedded tier
        original = platforms(request.param)
        uri = champion_uri(original)
    settings = on_tier(original, tmp_path_factory.mktemp(f"{tier}-{request.param}"))
    if request.param == "flights":  # a pushable view, as tests/serving/test_push.py adds one
        (settings.feature_repo / "live.py").write_text(PUSH_VIEW)
    stages.apply(settings)
    stages.materialize_and_check(settings)  # parity: the pipeline fails if online != offline
    store = tiers.open_store(settings.feature_repo)
    served = {
        "mlflow_tracking_uri": uri,
        "reload_interval_s": 0,
        "admin_token": "tier-admin",
        "request_timeout_s": 10.0,
    }
    ours = ServingSettings(feature_repo=settings.feature_repo, **served)
    theirs = ServingSettings(feature_repo=original.feature_repo, **served)
    with TestClient(create_app(ours)) as client:
        with embedded():
            reference = TestClient(create_app(theirs))
            reference.__enter__()
        try:
            yield Tiered(
                tier,
                settings,
                original,
                client,
                reference,
                store,
                known_request(settings, store),
                watermark(settings.offline),
            )
        finally:
            with embedded():
                reference.__exit__(None, None, None)
