"""Every prediction, logged to Parquet under `data/predictions/` in batches, off the request path.

Requests append a record to a buffer (a list append under a lock); a background thread writes
the buffer every `flush_s` seconds or `batch_rows` records, whichever comes first, as one new
file `date=YYYY-MM-DD/<time>-<pid>-<seq>.parquet`. Each file is written to a `.tmp` name,
fsynced and renamed, so a reader never sees a partial file and a crash loses at most the
records not yet flushed. Columns: request_id, logged_at, endpoint, model_name, model_version,
probability, latency_ms, prediction_time, entities (JSON), and per feature `value.<name>` and
`status.<name>` (so readers union files by column name across model versions). A record gives
its features as three tuples in the model's order: names, values, statuses.
"""

import json
import logging
import os
import threading
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class PredictionLog:
    def __init__(self, folder: Path, batch_rows: int = 1000, flush_s: float = 5.0) -> None:
        self.folder = folder
        self.batch_rows = batch_rows
        self.flush_s = flush_s
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seq = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def append(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._buffer.append(record)
            full = len(self._buffer) >= self.batch_rows
        if full:
            self._wake.set()

    def close(self) -> None:
        """Stop the thread and write what is buffered."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def flush(self) -> Path | None:
        with self._lock:
            batch, self._buffer = self._buffer, []
        return self._write(batch) if batch else None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
            except OSError:  # a full or vanished disk must not stop the server; say so
                logger.exception("prediction log: a batch could not be written and is lost")

    def _write(self, batch: list[dict[str, Any]]) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        stamp = datetime.now(UTC)
        self._seq += 1
        folder = self.folder / f"date={stamp:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stamp:%H%M%S%f}-{os.getpid()}-{self._seq:06d}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        with open(tmp, "wb") as sink:
            pq.write_table(pa.table(_columnar(batch)), sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
        return path


NESTED = frozenset({"features", "entities"})


def _columnar(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch as columns: each record's fields, its entities as JSON, and per feature (of
    any record) `value.<name>` (numbers as floats) and `status.<name>`, null where a record
    lacks it.

    A record's features are `(names, values, statuses)`, three tuples in the model's order:
    the records of one model share its names, so their values transpose with `zip` and
    convert in Arrow, at C speed. (Record by record in Python, a batch of 1000 records of 60
    features held the GIL for about 15 ms: a stall for every request the worker had open.)"""
    fields = [k for k in batch[0] if k not in NESTED]
    columns: dict[str, Any] = {k: [r.get(k) for r in batch] for k in fields}
    columns["entities"] = [json.dumps(r["entities"], default=str) for r in batch]
    values, statuses = _feature_columns([r["features"] for r in batch])
    for name, column in values.items():
        value_column, status_column = _columns(name)
        columns[value_column] = _floats(column)
        columns[status_column] = statuses[name]
    return columns


Features = tuple[tuple[str, ...], tuple[Any, ...], tuple[str, ...]]


def _feature_columns(features: list[Features]) -> tuple[dict[str, list], dict[str, list]]:
    """Per feature name (the union over the records, first seen first), its values and
    statuses over the records, None where a record lacks the feature."""
    groups: dict[tuple[str, ...], list[int]] = {}  # names -> the records that have them
    for i, (names, _, _) in enumerate(features):
        groups.setdefault(names, []).append(i)
    if len(groups) == 1:  # one model served the whole batch: the usual case
        names = features[0][0]
        values = zip(*(f[1] for f in features), strict=True)
        statuses = zip(*(f[2] for f in features), strict=True)
        return (
            dict(zip(names, map(list, values), strict=True)),
            dict(zip(names, map(list, statuses), strict=True)),
        )
    size = len(features)
    all_values: dict[str, list] = {}
    all_statuses: dict[str, list] = {}
    for names, rows in groups.items():  # a reload changed the model within the batch
        for j, name in enumerate(names):
            value_column = all_values.setdefault(name, [None] * size)
            status_column = all_statuses.setdefault(name, [None] * size)
            for i in rows:
                value_column[i] = features[i][1][j]
                status_column[i] = features[i][2][j]
    return all_values, all_statuses


def _floats(values: list[Any]) -> Any:
    """A feature's values as an Arrow array, whole numbers as floats (so that files union by
    column across batches); a bool stays a bool. Values Arrow cannot put in one array (mixed
    kinds) are left as they are, as before."""
    import pyarrow as pa

    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return [float(v) if type(v) in NUMBERS else v for v in values]
    return array.cast(pa.float64()) if pa.types.is_integer(array.type) else array


NUMBERS = frozenset({int, float})


@cache  # a model's feature names: a few dozen strings, formatted once instead of per record
def _columns(feature: str) -> tuple[str, str]:
    return f"value.{feature}", f"status.{feature}"
