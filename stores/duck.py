"""DuckDB plumbing shared by the offline store and the bulk engine: bounded connections, SQL
quoting, and the scan of a Feast FileSource.

Every connection gets a memory limit and a spill folder of its own under a temp root, removed
when the connection closes: an unbounded join once filled the disk with DuckDB temp files.
"""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from feast.data_format import ParquetFormat
from feast.data_source import DataSource
from feast.infra.offline_stores.file_source import FileSource

from stores.errors import UnsupportedSourceError


@dataclass(frozen=True)
class Limits:
    """How much of the machine one query may take."""

    memory_limit: str = "2GB"
    threads: int | None = None
    temp_root: str = "/tmp/feast-stores"
    max_temp_size: str = "20GB"


@contextmanager
def connect(limits: Limits) -> Iterator[duckdb.DuckDBPyConnection]:
    Path(limits.temp_root).mkdir(parents=True, exist_ok=True)
    spill = tempfile.mkdtemp(prefix="duckdb-", dir=limits.temp_root)
    config: dict[str, Any] = {
        "memory_limit": limits.memory_limit,
        "temp_directory": spill,
        "max_temp_directory_size": limits.max_temp_size,
        # results are ordered explicitly where order matters; this frees DuckDB to stream
        "preserve_insertion_order": False,
    }
    if limits.threads:
        config["threads"] = limits.threads
    conn = duckdb.connect(config=config)
    try:
        # Naive timestamps mean UTC, as in Feast's own DuckDB store (ibis sets the same).
        conn.execute("SET TimeZone = 'UTC'")
        yield conn
    finally:
        conn.close()
        shutil.rmtree(spill, ignore_errors=True)


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def timestamp(value: datetime) -> str:
    """A TIMESTAMPTZ literal; naive datetimes are UTC."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"TIMESTAMPTZ {literal(value.isoformat())}"


def interval(span: timedelta) -> str:
    # A fixed number of microseconds: "30 days" would be calendar days in the session zone.
    return f"to_microseconds({span // timedelta(microseconds=1)})"


@dataclass(frozen=True)
class Scan:
    """A parquet FileSource as DuckDB reads it."""

    pattern: str
    many_files: bool  # a folder of files: a row's address needs its file name too

    def sql(self, addressed: bool = False) -> str:
        """read_parquet(...); `addressed` adds each row's file_row_number (and filename)."""
        options = ""
        if addressed:
            options = ", file_row_number = true" + (", filename = true" if self.many_files else "")
        return f"read_parquet({literal(self.pattern)}{options})"


def parquet_scan(source: DataSource) -> Scan:
    """How to read a local parquet FileSource, or UnsupportedSourceError."""
    if not isinstance(source, FileSource):
        raise UnsupportedSourceError(f"{type(source).__name__} {source.name!r} is not a FileSource")
    fmt = source.file_format
    if not (isinstance(fmt, ParquetFormat) or (fmt is None and source.path.endswith(".parquet"))):
        raise UnsupportedSourceError(f"FileSource {source.name!r} is not parquet")
    if "://" in source.path:
        raise UnsupportedSourceError(f"FileSource {source.name!r} is remote ({source.path})")
    # Relative paths resolve against the working directory, as Feast's DuckDB store does.
    path = Path(source.path)
    if path.is_dir():
        return Scan(str(path / "**" / "*.parquet"), many_files=True)
    return Scan(str(path), many_files=False)


def source_column(source: DataSource, name: str) -> str:
    """The source column that Feast exposes as `name`, undoing the source's field_mapping."""
    inverse = {new: old for old, new in source.field_mapping.items()}
    return inverse.get(name, name)
