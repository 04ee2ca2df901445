"""Materialization into SQLite: stock Feast vs the bulk stores vs a raw bulk write.

    TZ=UTC .venv/bin/python -m bench.stores_materialize [--runs 3] [--entities 100000]

Peers, each timed around the materialize call only, in a fresh process per run:
- stock: Feast's local engine into its SQLite store (`store.materialize`);
- fast:  BulkComputeEngine + AsofDuckDBOfflineStore into BulkSqliteOnlineStore (same call);
- raw:   DuckDB picks each entity's latest row, Feast's own Arrow-to-proto conversion, then one
         `executemany` of the stock layout's rows in one transaction (the bytes stock writes).
"""

import argparse
import shutil
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from bench.stores_data import FAST, START, STOCK, write_features, write_repo
from bench.stores_run import feast_apply, measure, report, write_section

WORK = Path("/tmp/bench-stores-materialize")
HOURS = 50


def _window():
    return START - timedelta(days=1), START + timedelta(hours=HOURS + 1)


def _run_feast(repo: Path) -> float:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo))
    start, end = _window()
    began = time.perf_counter()
    store.materialize(start_date=start, end_date=end)
    return time.perf_counter() - began


def _run_raw(repo: Path, table: Path) -> float:
    import duckdb
    from feast import FeatureStore
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.utils import _convert_arrow_to_proto

    store = FeatureStore(repo_path=str(repo))
    view = store.get_feature_view("items")
    began = time.perf_counter()
    with duckdb.connect(config={"memory_limit": "2GB", "temp_directory": "/tmp"}) as conn:
        latest = conn.sql(
            f"SELECT unnest(max_by(t, t.event_timestamp)) FROM read_parquet('{table}') t "
            "GROUP BY t.entity_id"
        ).to_arrow_table()
    rows = _convert_arrow_to_proto(
        latest, view, {"entity_id": view.entity_columns[0].dtype.to_value_type()}
    )
    db = sqlite3.connect(repo / "online.db")
    with db:
        db.executemany(
            "INSERT OR REPLACE INTO bench_items (entity_key, feature_name, value, event_ts) "
            "VALUES (?, ?, ?, ?)",
            (
                (serialize_entity_key(key, 3), name, value.SerializeToString(), int(ts.timestamp()))
                for key, values, ts, _ in rows
                for name, value in values.items()
            ),
        )
    return time.perf_counter() - began


def _child(kind: str, repo: Path, table: Path) -> None:
    shutil.copy(repo / "online.template.db", repo / "online.db")
    for suffix in ("-wal", "-shm"):
        (repo / f"online.db{suffix}").unlink(missing_ok=True)
    report(_run_raw(repo, table) if kind == "raw" else _run_feast(repo))


def _prepare(entities: int) -> tuple[Path, dict[str, Path]]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    table = WORK / "items.parquet"
    write_features(table, entities=entities, hours=HOURS)
    repos = {
        "stock": write_repo(WORK / "stock", table, STOCK),
        "fast": write_repo(WORK / "fast", table, FAST),
        "raw": write_repo(WORK / "raw", table, STOCK),
    }
    for repo in repos.values():
        feast_apply(repo)
        shutil.copy(repo / "online.db", repo / "online.template.db")
    return table, repos


def _table(entities: int, results: dict, runs: int) -> str:
    rows = entities * HOURS
    stock = results["stock"]
    lines = [
        f"{entities:,} entities x {HOURS} hourly rows x 10 features = {rows:,} feature rows "
        f"in the window; {entities:,} entities ({entities * 10:,} values) written. "
        f"Median of {runs} runs, each in a fresh process; peak = max RSS of that process.",
        "",
        "| peer | seconds | feature rows / s | peak MB | speed vs stock | peak vs stock |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, run in results.items():
        lines.append(
            f"| {kind} | {run.seconds:.2f} | {rows / run.seconds:,.0f} | {run.peak_mb:,.0f} | "
            f"{stock.seconds / run.seconds:.1f}x | {run.peak_mb / stock.peak_mb:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "REPO", "TABLE"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--entities", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.child:
        kind, repo, table = args.child
        return _child(kind, Path(repo), Path(table))
    table, repos = _prepare(args.entities)
    results = {}
    for kind, repo in repos.items():
        results[kind] = measure(
            kind, args.runs, "bench.stores_materialize", kind, str(repo), str(table)
        )
    body = _table(args.entities, results, args.runs)
    print(body)
    write_section("Materialization into SQLite", body)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
