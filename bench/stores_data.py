"""Generated data and feature repos for the store benchmarks.

The feature table: `entities` entities x `hours` hourly rows x 10 features (5 doubles, 5
integers, about 1% nulls), each entity offset by a few minutes so rows do not line up. Entity
rows: random entities (a sixth of them never seen by the table) at random times from 5 hours
before the data to 5 hours after it, so some rows fall before any data and some beyond the ttl.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

START = datetime(2024, 1, 1, tzinfo=UTC)
TTL = timedelta(hours=2)
FEATURES = [f"f{i}" for i in range(10)]

STOCK = {"online": "type: sqlite", "offline": "type: duckdb", "engine": "local"}
FAST = {
    "online": "type: stores.online.BulkSqliteOnlineStore",
    "offline": "type: stores.offline.AsofDuckDBOfflineStore",
    "engine": "stores.engine.BulkComputeEngine",
}

REPO = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64, Int64
from feast.value_type import ValueType

item = Entity(name="item", join_keys=["entity_id"], value_type=ValueType.INT64)
source = FileSource(name="items_source", path={path!r}, timestamp_field="event_timestamp")
items = FeatureView(
    name="items",
    entities=[item],
    ttl=timedelta(seconds={ttl}),
    schema=[Field(name=f"f{{i}}", dtype=Float64 if i < 5 else Int64) for i in range(10)],
    source=source,
)
"""


def write_features(path: Path, entities: int = 100_000, hours: int = 50, seed: int = 0) -> None:
    """Write the feature table with DuckDB (streamed, small memory)."""
    doubles = [
        f"CASE WHEN hash(e, h, {i}, {seed}) % 100 = 0 THEN NULL "
        f"ELSE (hash(e, h, {i}, {seed}) % 100000) / 1000.0 END AS f{i}"
        for i in range(5)
    ]
    ints = [
        f"CASE WHEN hash(e, h, {i}, {seed}) % 100 = 0 THEN NULL "
        f"ELSE CAST(hash(e, h, {i}, {seed}) % 1000 AS BIGINT) END AS f{i}"
        for i in range(5, 10)
    ]
    sql = (
        f"SELECT e AS entity_id, TIMESTAMPTZ '{START.isoformat()}' + to_hours(h) "
        f"+ to_minutes(e % 60) AS event_timestamp, {', '.join(doubles + ints)} "
        f"FROM range({entities}) a(e), range({hours}) b(h)"
    )
    with duckdb.connect(config={"memory_limit": "1GB", "temp_directory": "/tmp"}) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")


def entity_rows(n: int, entities: int = 100_000, hours: int = 50, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    span = (hours + 10) * 3600 * 10**6
    micros = rng.integers(0, span, n) - 5 * 3600 * 10**6
    return pd.DataFrame(
        {
            "row": np.arange(n, dtype="int64"),
            "entity_id": rng.integers(0, entities * 6 // 5, n),
            "event_timestamp": pd.Timestamp(START) + pd.to_timedelta(micros, unit="us"),
        }
    )


def write_repo(folder: Path, table: Path, kind: dict[str, str]) -> Path:
    """A feature repo over `table` with the stores of `kind` (STOCK or FAST)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "repo.py").write_text(REPO.format(path=str(table), ttl=int(TTL.total_seconds())))
    (folder / "feature_store.yaml").write_text(
        "project: bench\nprovider: local\nregistry: registry.db\n"
        f"online_store:\n  {kind['online']}\n  path: online.db\n"
        f"offline_store:\n  {kind['offline']}\n"
        f"batch_engine:\n  type: {kind['engine']}\n"
        "entity_key_serialization_version: 3\n"
    )
    return folder
