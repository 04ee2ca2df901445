"""Atomic writes: a stage that fails leaves the previous state of its outputs intact."""

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.errors import PipelineError


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    """Write to a temporary name beside `path`, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, path)
    return path


def write_json(payload: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)
    return path


def read_json(path: Path, default: Any, recover: str = "") -> Any:
    """The file's JSON, `default` when there is none; a corrupt file is a PipelineError
    naming it and how to recover."""
    if not path.exists():
        return default
    try:
        return json.loads(path.read_bytes())
    except (ValueError, OSError) as exc:
        how = recover or "restore it from a backup, or delete it and re-run the stage that wrote it"
        raise PipelineError(f"{path} is corrupt ({exc}): {how}") from None


def scan_zone(zone: Path, table: str) -> pl.LazyFrame:
    """All partitions of one table in a zone, as one lazy frame."""
    files = sorted((zone / table).glob("*/*.parquet"))
    if not files:
        raise FileNotFoundError(f"no {table} data under {zone}: run the earlier stages first")
    return pl.scan_parquet(files)


def write_text(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
