"""Ingest: copy source tables into the immutable raw zone as typed, month-partitioned Parquet.

Each source file is identified by its content hash; a file already in the manifest is skipped,
so re-running ingests nothing twice.
"""

import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.errors import IngestError
from pipelines.storage import read_json, write_json, write_parquet
from pipelines.tables import TABLES, UTC_US, Table, partition_of


@dataclass(frozen=True)
class IngestResult:
    table: str
    file: str
    rows: int
    skipped: bool


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_source(table: Table, path: Path) -> pl.DataFrame:
    """Read one CSV (optionally zipped) into the table's schema, timestamps as UTC microseconds."""
    on_read = {n: (pl.String() if t == UTC_US else t) for n, t in table.schema.items()}
    try:
        data: bytes | Path = path
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                data = archive.read(archive.namelist()[0])
        frame = pl.read_csv(
            io.BytesIO(data) if isinstance(data, bytes) else data,
            schema=on_read,
            null_values="NA",
        )
        stamps = [n for n, t in table.schema.items() if t == UTC_US]
        return frame.with_columns(
            pl.col(c).str.to_datetime(time_unit="us", time_zone="UTC") for c in stamps
        )
    except (pl.exceptions.PolarsError, zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"{path.name}: cannot read it as the {table.name} table: {exc}") from exc


def write_raw(frame: pl.DataFrame, table: Table, raw: Path, digest: str) -> list[str]:
    """One Parquet file per partition, named by the source's hash so versions sit side by side."""
    parts = frame.with_columns(_partition=partition_of(table)).partition_by(
        "_partition", as_dict=True, include_key=False
    )
    written = []
    for (label,), part in sorted(parts.items()):
        write_parquet(part, raw / table.name / f"month={label}" / f"{digest[:16]}.parquet")
        written.append(str(label))
    return written


def ingest_file(table: Table, path: Path, raw: Path) -> IngestResult:
    manifest_path = raw / "_manifest.json"
    manifest = read_json(manifest_path, [])
    digest = file_hash(path)
    if any(entry["sha256"] == digest for entry in manifest):
        return IngestResult(table.name, path.name, 0, skipped=True)
    frame = read_source(table, path)
    partitions = write_raw(frame, table, raw, digest)
    manifest.append(
        {
            "table": table.name,
            "file": path.name,
            "sha256": digest,
            "rows": frame.height,
            "partitions": partitions,
            "ingested_at": datetime.now(UTC).isoformat(),
            "outcome": "ingested",
        }
    )
    write_json(manifest, manifest_path)  # last: a crash before this leaves the file unrecorded
    return IngestResult(table.name, path.name, frame.height, skipped=False)


def ingest(source_dir: Path, raw: Path) -> list[IngestResult]:
    """Ingest every known table found in `source_dir`."""
    results = []
    for table in TABLES.values():
        path = source_dir / table.file
        if not path.exists():
            raise IngestError(f"{path} is missing: expected the {table.name} table there")
        results.append(ingest_file(table, path, raw))
    return results
