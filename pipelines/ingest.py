"""Ingest: files dropped in a landing folder -> the immutable raw zone, typed, by month.

A file's table comes from its name (e.g. `orders.csv.zip`, `orders_2024-05.csv`,
`orders-fix.parquet`). Each file is identified by its content hash: a hash already in the
manifest is skipped with a message, so a second ingest of the same drop changes nothing. A
changed file with a known name becomes a new version (see `pipelines.manifest` for which
version wins); months that already had data are recorded as `late_months`.

Per file, atomically: chunks are staged under `raw/.staging/`, then each month's Parquet file is
renamed into `raw/<table>/month=YYYY-MM/<hash16>.parquet`, and the manifest is written last. A
crash before that leaves files no manifest entry names: validation never reads them and the
retry overwrites them. A file that cannot be read is recorded as `rejected` with the reason.

A CSV line that cannot be read as a row (see `pipelines.readers`) lands in the `unknown` month
as a row of nulls whose issue names its line: validation quarantines it, and the entry counts
such rows under `unreadable`. A file whose share of them passes `max_bad_share` (the threshold
validation applies to bad rows, LARDER_MAX_BAD_SHARE) is rejected whole, naming the count.
"""

import contextlib
import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from larder import Source
from pipelines import manifest
from pipelines.errors import IngestError, ReconcileError
from pipelines.readers import (
    UNKNOWN,
    ColumnStats,
    Progress,
    read_chunks,
    table_breaks,
    unreadable_share,
)
from pipelines.settings import PipelineSettings
from pipelines.storage import write_parquet

SUFFIXES = (".csv", ".csv.zip", ".csv.gz", ".parquet")
STAGING = ".staging"
MAX_BAD_SHARE: float = PipelineSettings.model_fields["max_bad_share"].default


@dataclass(frozen=True)
class IngestResult:
    table: str
    file: str
    rows: int
    skipped: bool = False
    outcome: str = "ingested"  # ingested | skipped | empty | rejected | ignored
    message: str = ""
    late_months: tuple[str, ...] = ()


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_for(path: Path, sources: Mapping[str, Source]) -> Source | None:
    """The table a file feeds, from its name: the table's name, alone or before `_`/`-`; of
    tables whose names fit, the longest (`orders_items_2.csv` feeds `orders_items`, not
    `orders`)."""
    name = path.name.lower()
    if not name.endswith(SUFFIXES):
        return None
    base = name.split(".")[0]
    fits = [
        s
        for s in sources.values()
        if base == s.name or base.startswith((f"{s.name}_", f"{s.name}-"))
    ]
    return max(fits, key=lambda s: len(s.name), default=None)


def read_source(table: Source, path: Path, max_bad_share: float = MAX_BAD_SHARE) -> pl.DataFrame:
    """A whole file as one typed frame (for small files and tests); `_issues` kept only if any."""
    stats = ColumnStats()
    chunks = []
    for chunk in read_chunks(path, table):
        stats.add(chunk)
        chunks.append(chunk)
    _raise_breaks(stats, table, path, max_bad_share)
    frame = pl.concat(chunks) if chunks else pl.DataFrame(schema=table.schema)
    if "_issues" in frame.columns and frame["_issues"].list.len().sum() == 0:
        frame = frame.drop("_issues")
    return frame


def _raise_breaks(stats: ColumnStats, table: Source, path: Path, max_bad_share: float) -> None:
    breaks = table_breaks(stats, table)
    if breaks:
        raise IngestError(f"{path.name}: the batch cannot be read: {'; '.join(breaks)}")
    too_many = unreadable_share(stats, max_bad_share)
    if too_many:
        raise IngestError(f"{path.name}: {too_many}")


def _label(table: Source) -> pl.Expr:
    return table.partition_label().fill_null(UNKNOWN)


def stage(
    table: Source, path: Path, staging: Path, progress: bool, max_bad_share: float
) -> tuple[dict[str, int], ColumnStats]:
    """Read the file chunk by chunk into `staging/month=.../NNNNN.parquet`; rows per month,
    and what was read."""
    stats = ColumnStats()
    rows: dict[str, int] = {}
    chunks = read_chunks(path, table, Progress(path.name, enabled=progress))
    for i, chunk in enumerate(chunks):
        stats.add(chunk)
        parts = chunk.with_columns(_p=_label(table)).partition_by("_p", as_dict=True)
        for (label,), part in parts.items():
            write_parquet(part.drop("_p"), staging / f"month={label}" / f"{i:05d}.parquet")
            rows[str(label)] = rows.get(str(label), 0) + part.height
    _raise_breaks(stats, table, path, max_bad_share)
    return dict(sorted(rows.items())), stats


def publish(staging: Path, target: Path, version: str, rows: dict[str, int]) -> None:
    """Each staged month -> one Parquet file: all written to temporary names, then renamed."""
    moves = []
    for month, expected in rows.items():
        final = target / f"month={month}" / f"{version}.parquet"
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        pl.scan_parquet(sorted((staging / f"month={month}").glob("*.parquet"))).sink_parquet(tmp)
        written = pl.scan_parquet(tmp).select(pl.len()).collect().item()
        if written != expected:
            raise ReconcileError(f"{final}: {expected} rows staged but {written} written")
        moves.append((tmp, final))
    for tmp, final in moves:
        os.replace(tmp, final)


def _entry(table: Source, path: Path, digest: str, now: datetime, entries: list) -> dict:
    versions = [e for e in entries if e["file"] == path.name and e["table"] == table.name]
    return {
        "table": table.name,
        "file": path.name,
        "sha256": digest,
        "version": len(versions) + 1,
        "ingested_at": now.isoformat(),
    }


def ingest_file(
    table: Source,
    path: Path,
    raw: Path,
    now: datetime | None = None,
    progress: bool = False,
    max_bad_share: float = MAX_BAD_SHARE,
) -> IngestResult:
    entries = manifest.load(raw)
    digest = file_hash(path)
    seen = manifest.find(entries, digest)
    if seen is not None:
        said = f"already ingested as {seen['file']} at {seen['ingested_at']} ({seen['outcome']})"
        return IngestResult(table.name, path.name, 0, skipped=True, outcome="skipped", message=said)
    entry = _entry(table, path, digest, now or datetime.now(UTC), entries)
    staging = raw / STAGING / digest[:16]
    shutil.rmtree(staging, ignore_errors=True)
    try:
        rows, stats = stage(table, path, staging, progress, max_bad_share)
        publish(staging, raw / table.name, digest[:16], rows)
    except IngestError as exc:
        entry.update(rows=0, partitions={}, outcome="rejected", reason=str(exc))
        return _record(entries, entry, raw, staging)
    late = sorted(set(rows) & manifest.months_with_data(entries, table.name))
    outcome = "ingested" if rows else "empty"
    reason = "" if rows else f"{path.name}: a header and no rows; nothing to ingest"
    entry.update(rows=sum(rows.values()), partitions=rows, late_months=late, outcome=outcome)
    if reason:
        entry["reason"] = reason
    if stats.unreadable:
        entry["unreadable"] = {"rows": stats.unreadable, "examples": stats.lines}
    return _record(entries, entry, raw, staging)


def _record(entries: list, entry: dict, raw: Path, staging: Path) -> IngestResult:
    entries.append(entry)
    manifest.save(entries, raw)  # last: a crash before this leaves the file unrecorded
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # only when no other file is staged
    return IngestResult(
        entry["table"],
        entry["file"],
        entry["rows"],
        outcome=entry["outcome"],
        message=entry.get("reason", "") or _unreadable_lines(entry),
        late_months=tuple(entry.get("late_months", ())),
    )


def _unreadable_lines(entry: dict) -> str:
    """What an ingested file's lines that did not read as rows became."""
    if "unreadable" not in entry:
        return ""
    n, examples = sum(entry["unreadable"]["rows"].values()), entry["unreadable"]["examples"]
    return f"{n} line(s) not read as rows, to be quarantined: {'; '.join(examples)}"


def landing_files(landing: Path, sources: Mapping[str, Source]) -> list[Path]:
    """Files to ingest, reference tables first (validation checks references against them)."""
    if not landing.is_dir():
        raise IngestError(f"{landing} is not a folder: point --landing at the drop folder")
    files = [p for p in landing.iterdir() if p.is_file() and not p.name.startswith(".")]
    order = list(sources)
    rank = {p: order.index(t.name) if (t := table_for(p, sources)) else len(order) for p in files}
    return sorted(files, key=lambda p: (rank[p], p.name))


def require_tables(files: list[Path], raw: Path, sources: Mapping[str, Source]) -> None:
    """Every table must come with the drop or be in the raw zone already."""
    dropped = {t.name for p in files if (t := table_for(p, sources))}
    known = {e["table"] for e in manifest.load(raw) if e["outcome"] == "ingested"}
    missing = [name for name in sources if name not in dropped | known]
    if missing:
        raise IngestError(
            f"no {', '.join(missing)} table in the drop nor in the raw zone: add a file named "
            f"like {missing[0]}.csv or {missing[0]}_<part>.parquet to the landing folder"
        )


def ingest(
    source_dir: Path,
    raw: Path,
    sources: Mapping[str, Source],
    now: datetime | None = None,
    progress: bool = False,
    max_bad_share: float = MAX_BAD_SHARE,
) -> list[IngestResult]:
    """Ingest every file of the landing folder; files of no known table are reported, not read.
    A file whose share of lines that cannot be read passes `max_bad_share` is rejected."""
    files = landing_files(source_dir, sources)
    require_tables(files, raw, sources)
    results = []
    for path in files:
        table = table_for(path, sources)
        if table is None:
            said = f"not a table's file: name it <table>[_suffix]{{{','.join(SUFFIXES)}}}"
            results.append(IngestResult("?", path.name, 0, outcome="ignored", message=said))
        else:
            results.append(ingest_file(table, path, raw, now, progress, max_bad_share))
    return results
