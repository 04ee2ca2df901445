"""Request bodies for the serving benchmark, from real flights.

The pool is the latest `POOL` flights with a tail number whose prediction time is at or before
the data's watermark: the flights a caller would ask about at that moment, so their keys are
the ones the online store holds fresh values for. Each /get-online-features body reads every
feature of the given views for 1 or 100 of those flights' (tailnum, carrier, origin); each
/predict body is one flight with the fields `python -m serving --example` shows, valued from
that flight (its own dest, distance and scheduled departure).
"""

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

POOL = 3000
KEYS = ("tailnum", "carrier", "origin")


def real_flights(table: Path, as_of: str, size: int = POOL) -> pd.DataFrame:
    """The latest `size` flights with a tail number, predicted at or before `as_of`."""
    flights = pd.read_parquet(table).dropna(subset=["tailnum"])
    known = flights[flights["prediction_time"] <= pd.Timestamp(as_of)]
    return known.sort_values("scheduled_departure").tail(size).reset_index(drop=True)


def entity_bodies(flights: pd.DataFrame, rows: int, count: int, seed: int) -> list[dict]:
    """`count` entity columns (Feast's columnar `entities`), each of `rows` random flights."""
    rng = np.random.default_rng(seed)
    picks = (rng.choice(len(flights), rows, replace=False) for _ in range(count))
    return [{k: flights[k].iloc[p].astype(str).tolist() for k in KEYS} for p in picks]


def predict_bodies(flights: pd.DataFrame, fields: Sequence[str]) -> list[dict]:
    """One /predict body per flight, with `fields` (all columns of the flights table)."""
    missing = sorted(set(fields) - set(flights.columns))
    if missing:
        raise SystemExit(f"/predict needs {missing}, which the flights table lacks")
    return [{f: plain(row[f]) for f in fields} for _, row in flights.iterrows()]


def plain(value):
    """A JSON value as a caller writes it: times as ISO 8601 text, numpy scalars as Python's."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def predict_fields(root: Path) -> list[str]:
    """The fields of the body `python -m serving --example` prints for the served champion."""
    done = subprocess.run(
        [sys.executable, "-m", "serving", "--example"],
        cwd=root,
        env={**os.environ, "TZ": "UTC", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


def write_lines(bodies: Sequence[dict], path: Path) -> Path:
    """One JSON body a line: what bench/serve_keys.lua loads and draws from."""
    path.write_text("".join(json.dumps(body, separators=(",", ":")) + "\n" for body in bodies))
    return path
