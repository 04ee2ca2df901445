"""Point-in-time joins: stock Feast vs AsofDuckDBOfflineStore vs a raw DuckDB as-of join.

    TZ=UTC .venv/bin/python -m bench.stores_pit_join [--runs 3] [--sizes 100000 1000000 10000000]
        [--stock-max 1000000]

The feature table is the generator's 100,000 entities x 50 hourly rows x 10 features (5 M rows,
ttl 2 h). Each peer turns the same entity frame (row, entity_id, event_timestamp) into a pandas
frame with the ten features, timed from the call to the finished DataFrame, in a fresh process
per run. The raw peer is what a user would write by hand: one ASOF LEFT JOIN with the ttl
applied in a CASE, `.df()`, DuckDB's default settings. Stock Feast runs only up to --stock-max
entity rows (its candidate join needs several GB per million rows).
"""

import argparse
import shutil
import time
from pathlib import Path

import duckdb

from bench.stores_data import FAST, FEATURES, STOCK, TTL, entity_rows, write_features, write_repo
from bench.stores_run import feast_apply, measure, report, write_section

WORK = Path("/tmp/bench-stores-pit")


def raw_join(table: Path, entities):
    ttl = int(TTL.total_seconds())
    fresh = f"f.event_timestamp >= e.event_timestamp - to_seconds({ttl})"
    features = ", ".join(f"CASE WHEN {fresh} THEN f.{n} END AS {n}" for n in FEATURES)
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("entities", entities)
        return conn.sql(
            f"SELECT e.*, {features} FROM entities e ASOF LEFT JOIN read_parquet('{table}') f "
            "ON e.entity_id = f.entity_id AND e.event_timestamp >= f.event_timestamp"
        ).df()


def feast_join(store, entities):
    return store.get_historical_features(
        entity_df=entities, features=[f"items:{n}" for n in FEATURES]
    ).to_df()


def _store(repo: Path):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo))


def _child(kind: str, repo: Path, table: Path, size: int) -> None:
    entities = entity_rows(size)
    store = None if kind == "raw" else _store(repo)  # opening the store is not timed
    join = (
        (lambda: raw_join(table, entities))
        if kind == "raw"
        else lambda: feast_join(store, entities)
    )
    began = time.perf_counter()
    join()
    report(time.perf_counter() - began)


def check_equal(repos: dict[str, Path], table: Path, size: int) -> str:
    """Stock, fast and raw frames, sorted by row, must be identical."""
    import pandas as pd

    entities = entity_rows(size)
    frames = {
        "stock": feast_join(_store(repos["stock"]), entities.copy()),
        "fast": feast_join(_store(repos["fast"]), entities.copy()),
        "raw": raw_join(table, entities.copy()),
    }
    frames = {k: f.sort_values("row").reset_index(drop=True) for k, f in frames.items()}
    pd.testing.assert_frame_equal(frames["fast"], frames["stock"], check_dtype=False)
    pd.testing.assert_frame_equal(frames["fast"], frames["raw"], check_dtype=False)
    filled = frames["fast"]["f0"].notna().mean()
    return (
        f"Checked before timing: at {size:,} entity rows the three frames are identical "
        f"({filled:.0%} of rows found a feature row)."
    )


def _prepare() -> tuple[Path, dict[str, Path]]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    table = WORK / "items.parquet"
    write_features(table)
    repos = {
        "stock": write_repo(WORK / "stock", table, STOCK),
        "fast": write_repo(WORK / "fast", table, FAST),
    }
    for repo in repos.values():
        feast_apply(repo)
    return table, repos


def _table(results: dict, runs: int, note: str) -> str:
    lines = [
        f"100,000 entities x 50 hourly rows x 10 features (5,000,000 rows), ttl {TTL}. "
        f"Median of {runs} runs, each in a fresh process; peak = max RSS of that process. {note}",
        "",
        "| entity rows | peer | seconds | peak MB | fast time / raw DuckDB | "
        "stock time / fast | fast peak / raw peak |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size, by_kind in results.items():
        fast, raw, stock = by_kind["fast"], by_kind["raw"], by_kind.get("stock")
        for kind, run in by_kind.items():
            ratios = ("", "", "")
            if kind == "fast":
                ratios = (
                    f"{fast.seconds / raw.seconds:.2f}x",
                    f"{stock.seconds / fast.seconds:.1f}x" if stock else "stock not run",
                    f"{fast.peak_mb / raw.peak_mb:.2f}",
                )
            cells = [f"{size:,}", kind, f"{run.seconds:.2f}", f"{run.peak_mb:,.0f}", *ratios]
            lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "REPO", "TABLE", "SIZE"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--stock-max", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if args.child:
        kind, repo, table, size = args.child
        return _child(kind, Path(repo), Path(table), int(size))
    table, repos = _prepare()
    note = check_equal(repos, table, min(args.sizes))
    results: dict[int, dict] = {}
    for size in args.sizes:
        kinds = ["stock", "fast", "raw"] if size <= args.stock_max else ["fast", "raw"]
        results[size] = {}
        for kind in kinds:
            repo = str(repos.get(kind, WORK))
            results[size][kind] = measure(
                f"{size} {kind}",
                args.runs,
                "bench.stores_pit_join",
                kind,
                repo,
                str(table),
                str(size),
            )
    body = _table(results, args.runs, note)
    print(body)
    write_section("Point-in-time join", body)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
