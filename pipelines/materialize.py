"""Register the feature repo with Feast and fill the online store, as a user would.

`apply` runs the `feast apply` command in the feature repo; `materialize_store` is the
SDK's `materialize_incremental` up to the data's watermark (the latest moment any outcome is
known).
"""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from larder import data_dir, state, tier
from larder.cli import debug
from pipelines.errors import PipelineError
from pipelines.storage import read_json

WATERMARK = "_watermark.json"


def feast_command(repo: Path, *args: str) -> str:
    """Run the Feast CLI in `repo` (with TZ=UTC, which Feast's SQLite store needs)."""
    for zone in ("registry", "online"):
        (data_dir(repo) / zone).mkdir(parents=True, exist_ok=True)
    options, environment = tier.feast_cli(repo)
    done = subprocess.run(
        [sys.executable, "-m", "feast.cli.cli", *options, *args],
        cwd=repo,
        env={**os.environ, **environment, "TZ": "UTC"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        if debug():
            raise PipelineError(f"`feast {' '.join(args)}` failed in {repo}:\n{done.stderr}")
        lines = [line for line in done.stderr.splitlines() if line.strip()] or ["no output"]
        raise PipelineError(
            f"`feast {' '.join(args)}` failed in {repo}: {lines[-1].strip()} (LARDER_DEBUG=1 "
            "shows Feast's output)"
        )
    return done.stdout


def apply(repo: Path) -> str:
    state.check_registry(repo, must_exist=False)
    return feast_command(repo, "apply")


def watermark(offline: Path) -> datetime:
    stamp = read_json(offline / WATERMARK, {}).get("as_of")
    if stamp is None:
        raise PipelineError(f"no {WATERMARK} in {offline}: run `python -m pipelines transform`")
    return datetime.fromisoformat(stamp)


def open_store(repo: Path):
    return tier.open_store(repo)


def materialize_store(store, end: datetime) -> None:
    """Incremental from each view's last run; a view never materialized starts at end - ttl.

    Feast would start a first run at now - ttl, which for replayed data is after `end`; and
    rows older than end - ttl are already outside the ttl at `end`, so they are not loaded.
    A SQLite online store whose file is gone is refilled whole. An online store already
    filled past `end` is refused: it would keep values from after
    `end`, and online would no longer equal offline at `end`.
    """
    views = store.list_feature_views()
    online = _sqlite_file(store)
    if online is not None and not online.exists() and views:
        # Deleted (say after corruption): apply creates its tables again, and every view is
        # refilled, as an incremental run would add only what came after the registry's last.
        apply(Path(store.repo_path))
        for view in views:
            store.materialize(start_date=end - view.ttl, end_date=end, feature_views=[view.name])
        return
    ahead = [fv.name for fv in views if _after(fv.most_recent_end_time, end)]
    if ahead:
        raise PipelineError(
            f"the online store holds {', '.join(ahead)} up to a later time than {end.isoformat()} "
            "(the offline store moved back since the last run): delete the data folder's online "
            "and registry zones, then run `python -m pipelines apply` and `materialize` again"
        )
    for view in (fv for fv in views if fv.most_recent_end_time is None):
        store.materialize(start_date=end - view.ttl, end_date=end, feature_views=[view.name])
    store.materialize_incremental(end_date=end)


def _sqlite_file(store) -> Path | None:
    """The SQLite online store's file, from the store's configuration; None for another store."""
    online = store.config.online_store
    if "sqlite" not in str(getattr(online, "type", "")).lower() or not online.path:
        return None
    path = Path(online.path)
    return path if path.is_absolute() else Path(store.repo_path) / path


def _after(moment: datetime | None, end: datetime) -> bool:
    if moment is None:
        return False
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment) > end
