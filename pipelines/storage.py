"""Atomic writes: a stage that fails leaves the previous state of its outputs intact."""

import json
import os
from pathlib import Path
from typing import Any

import polars as pl


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


def read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


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
