"""Reading the server's prediction log (`data/predictions/date=*/*.parquet`).

Files of different model versions may hold different feature columns (`value.<name>`,
`status.<name>`): they are read by column name, a missing column being null.
"""

import time
from datetime import datetime
from pathlib import Path

import polars as pl

from monitoring.errors import ReplayError


class LogReader:
    """The log as it grows: each file is read once (the server never rewrites a file)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._parts: dict[Path, pl.DataFrame] = {}

    def read(self, start: datetime | None = None, end: datetime | None = None) -> pl.DataFrame:
        """Logged predictions whose prediction time is in [start, end), oldest first."""
        for path in sorted(self.folder.glob("date=*/*.parquet")):
            if path not in self._parts:
                self._parts[path] = pl.read_parquet(path)
        if not self._parts:
            return pl.DataFrame()
        frame = pl.concat(list(self._parts.values()), how="diagonal_relaxed")
        if start is not None:
            frame = frame.filter(pl.col("prediction_time") >= start)
        if end is not None:
            frame = frame.filter(pl.col("prediction_time") < end)
        return frame.sort("prediction_time", "entities", "request_id")  # ids are random

    def wait_for(self, request_ids: set[str], timeout_s: float = 60) -> None:
        """Until every given request is in the log: the server writes it in batches, off the
        request path, so the last batch lands a moment after the last answer."""
        deadline = time.monotonic() + timeout_s
        while True:
            logged = self.read()
            seen = set(logged["request_id"].to_list()) if logged.height else set()
            missing = request_ids - seen
            if not missing:
                return
            if time.monotonic() > deadline:
                raise ReplayError(
                    f"{len(missing)} answered predictions are not in the log at {self.folder} "
                    f"after {timeout_s:.0f} s: the server's prediction log lost them"
                )
            time.sleep(0.5)


def feature_values(log: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """One column per feature, as served (floats; null when missing)."""
    return log.select(
        pl.col(f"value.{n}").cast(pl.Float64, strict=False).alias(n)
        if f"value.{n}" in log.columns
        else pl.lit(None, pl.Float64).alias(n)
        for n in names
    )


def statuses(log: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    return log.select(
        pl.col(f"status.{n}").alias(n) if f"status.{n}" in log.columns else pl.lit(None).alias(n)
        for n in names
    )
