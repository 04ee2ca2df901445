"""The state files a domain's commands share, checked: a missing or corrupted one is named in one
line, with how to recover.

    registry       Feast's file registry (feature_store.yaml `registry`): rebuilt from the
                   declarations by `python -m pipelines apply`
    online store   Feast's SQLite online store (`online_store.path`): rebuilt from the offline
                   store by `python -m pipelines materialize`
    MLflow store   the tracking database (a SQLite file by default): runs and model versions
                   are history, not derivable; restore it from a backup

Checks are cheap (a protobuf parse, SQLite's `quick_check`), so commands run them where the
file is read, and `explain` runs them after an unexpected failure to say which file broke it.
"""

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import unquote

REAPPLY = "run `python -m pipelines apply` (it rebuilds the registry from the domain folder)"
REMATERIALIZE = (
    "delete it and run `python -m pipelines materialize` (it rebuilds the online store from "
    "the offline store)"
)


class StateError(Exception):
    """A state file is missing or corrupt; the message names it and how to recover."""


def _config(repo: Path) -> dict[str, Any]:
    """The domain's Feast configuration on this tier (larder.tier: its own, or merged)."""
    from larder import tier

    try:
        return tier.resolved(repo)
    except tier.TierError as exc:
        raise StateError(str(exc)) from None


def _local(repo: Path, where: Any) -> Path | None:
    """A path in feature_store.yaml as a local file (relative to the repo), or None."""
    if not isinstance(where, str) or "://" in where:
        return None
    path = Path(where)
    return path if path.is_absolute() else repo / path


def registry_path(repo: Path) -> Path | None:
    """The file registry's path; None for a SQL or remote registry."""
    registry = _config(repo).get("registry")
    if isinstance(registry, dict):
        if registry.get("registry_type", "file") != "file":
            return None
        registry = registry.get("path")
    return _local(repo, registry)


def online_path(repo: Path) -> Path | None:
    """The SQLite online store's file; None for any other online store."""
    online = _config(repo).get("online_store")
    if not isinstance(online, dict) or "sqlite" not in str(online.get("type", "sqlite")).lower():
        return None
    return _local(repo, online.get("path", "data/online.db"))


def check_registry(repo: Path, *, must_exist: bool = True) -> None:
    path = registry_path(repo)
    if path is None or (not must_exist and not path.exists()):
        return
    if not path.exists():
        raise StateError(f"the Feast registry {path} is missing: {REAPPLY}")
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
    from google.protobuf.message import DecodeError

    try:
        RegistryProto.FromString(path.read_bytes())
    except (DecodeError, OSError) as exc:
        raise StateError(
            f"the Feast registry {path} is corrupt ({first_line(exc)}): delete it and {REAPPLY}"
        ) from None


def check_online_store(repo: Path, *, must_exist: bool = True) -> None:
    _check_sqlite(
        online_path(repo),
        "the online store",
        must_exist,
        missing="run `python -m pipelines materialize`",
        corrupt=REMATERIALIZE,
    )


def mlflow_path(tracking_uri: str | None) -> Path | None:
    """The MLflow store's SQLite file; None for a server or another database."""
    if not tracking_uri or not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(unquote(tracking_uri.removeprefix("sqlite:///").split("?")[0]))


def check_mlflow(tracking_uri: str | None, *, must_exist: bool = False) -> None:
    _check_sqlite(
        mlflow_path(tracking_uri),
        "the MLflow store",
        must_exist,
        missing="restore it from a backup, or run `python -m training train` to start a new one",
        corrupt=(
            "restore it from a backup (its runs and model versions cannot be rebuilt), or move "
            "it aside and run `python -m training train` to start a new one"
        ),
    )


def _check_sqlite(
    path: Path | None, what: str, must_exist: bool, *, missing: str, corrupt: str
) -> None:
    """A SQLite file that is there (when it must be) and sound; None: not a SQLite store."""
    if path is None:
        return
    if not path.exists():
        if must_exist:
            raise StateError(f"{what} {path} is missing: {missing}")
        return
    problem = sqlite_problem(path)
    if problem:
        raise StateError(f"{what} {path} is corrupt ({problem}): {corrupt}")


def sqlite_problem(path: Path) -> str | None:
    """What SQLite's quick_check says is wrong with the file, or None if it is sound. An empty
    file is wrong too: SQLite takes it for a new database, but no store here leaves one."""
    if path.stat().st_size == 0:
        return "the file is empty"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        return str(exc)
    said = [row[0] for row in rows]
    return None if said == ["ok"] else "; ".join(said[:3])


def explain(exc: BaseException, repo: Path | None, tracking_uri: str | None = None) -> str | None:
    """After an unexpected failure: the one line naming the broken state file, if one is."""
    checks = []
    if repo is not None:
        checks += [lambda: check_registry(repo), lambda: check_online_store(repo, must_exist=False)]
    checks.append(lambda: check_mlflow(tracking_uri))
    for check in checks:
        try:
            check()
        except StateError as found:
            return str(found)
    if repo is not None and type(exc).__name__.endswith("NotFoundException"):
        # A registry that parses but lacks what the domain declares (cut at a field's end, or
        # another project's): Feast's "not found" names the object.
        return f"the Feast registry {registry_path(repo)} lacks it ({first_line(exc)}): {REAPPLY}"
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
