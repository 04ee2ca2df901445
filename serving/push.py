"""Fresh feature rows into the online store through a Feast PushSource, newest row winning.

Feast's online write replaces whatever is stored, so a late-arriving older row would overwrite
a newer value. Here, for each view fed by the push source, the batch keeps each entity's
latest row, the store's current event timestamps are read through `online_read`, and only rows
at least as new as the stored ones are written. A lock (a thread lock plus a file lock beside
the online store, for other workers and processes that push through this module) makes the
read-compare-write step atomic.
"""

import fcntl
import threading
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from feast import FeatureStore, FeatureView
from feast.data_source import KafkaSource, KinesisSource, PushSource
from feast.types import Bool, Float32, Float64, Int32, Int64, String

from serving.errors import BadReadError
from serving.online import ViewRead, entity_key
from stores.feast_private import provider

_THREADS = threading.Lock()


@dataclass(frozen=True)
class Pushed:
    view: str
    written: int
    skipped_older: int


def push(
    store: FeatureStore, source: str, columns: Mapping[str, Sequence[Any]], lock_file: Path
) -> list[Pushed]:
    views = _views_of(store, source)
    for view in views:
        _check_types(view, columns)
    frame = _frame(columns)
    with _locked(lock_file):
        return [_push_view(store, view, frame) for view in views]


def _views_of(store: FeatureStore, source: str) -> list[FeatureView]:
    views = [
        view
        for view in store.list_feature_views(allow_cache=True)
        if view.stream_source is not None and view.stream_source.name == source
    ]
    if not views:
        raise BadReadError(
            f"no feature view reads push source {source!r}: declare a PushSource in the feature "
            "repo, give it to a FeatureView as its source, and `feast apply`"
        )
    return views


# What JSON value each Feast type of a feature takes (null always; a bool is no number here).
TAKES: dict[Any, tuple[type, ...]] = {
    Float64: (int, float),
    Float32: (int, float),
    Int64: (int,),
    Int32: (int,),
    String: (str,),
    Bool: (bool,),
}


def _check_types(view: FeatureView, columns: Mapping[str, Sequence[Any]]) -> None:
    """Each value given for a feature of the view is of the feature's type (Feast would turn a
    number into text, or text into a number, or fail its own assertion)."""
    for feature in view.features:
        takes = TAKES.get(feature.dtype)
        if takes is None:
            continue
        for i, value in enumerate(columns.get(feature.name, ())):
            if value is not None and (
                not isinstance(value, takes) or (isinstance(value, bool) and bool not in takes)
            ):
                raise BadReadError(
                    f"df.{feature.name}[{i}] is {value!r}, but view {view.name!r} stores it as "
                    f"{feature.dtype}"
                )


def _frame(columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1 or lengths == {0}:
        raise BadReadError(f"df columns must be non-empty and of one length, got {sorted(lengths)}")
    return pd.DataFrame(dict(columns))


def _push_view(store: FeatureStore, view: FeatureView, frame: pd.DataFrame) -> Pushed:
    keys = [c.name for c in view.entity_columns]
    stream = view.stream_source
    # _views_of keeps views with a stream source; Feast gives every one a batch source.
    assert isinstance(stream, PushSource | KafkaSource | KinesisSource)
    assert stream.batch_source is not None
    stamp = stream.batch_source.timestamp_field
    needed = [*keys, stamp, *(f.name for f in view.features)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise BadReadError(f"df lacks column(s) {missing} of view {view.name!r}")
    rows = frame[needed].assign(**{stamp: _times(frame[stamp], stamp)})
    latest = rows.sort_values(stamp).drop_duplicates(keys, keep="last")
    stored = _stored_times(store, view, latest[keys].itertuples(index=False, name=None))
    newer = latest[[s is None or t >= s for t, s in zip(latest[stamp], stored, strict=True)]]
    if not newer.empty:
        _write(store, view.name, newer)
    return Pushed(view.name, len(newer), len(latest) - len(newer))


def _times(values: pd.Series, column: str) -> pd.Series:
    if not all(isinstance(v, str) for v in values):  # seconds? milliseconds? times are text
        raise BadReadError(f"df.{column} must hold ISO-8601 times as strings, not numbers")
    try:
        return pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadReadError(f"df.{column} must hold ISO-8601 times: {exc}") from exc


def _stored_times(store: FeatureStore, view: FeatureView, keys) -> list[pd.Timestamp | None]:
    read = ViewRead(
        view=view,
        columns=tuple(c.name for c in view.entity_columns),
        join_keys=tuple(c.name for c in view.entity_columns),
        types=tuple(c.dtype.to_value_type() for c in view.entity_columns),
        features=(),
        names=(),
        ttl_s=None,
    )
    protos = [entity_key(read, tuple(_plain(v) for v in key)) for key in keys]
    # the view's features named: Feast's postgres store fails on None (a query it misbuilds)
    features = [f.name for f in view.features]
    found = provider(store).online_read(store.config, view, protos, features)
    return [None if ts is None else pd.Timestamp(ts) for ts, _ in found]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value  # numpy scalars from pandas


def _write(store: FeatureStore, view: str, rows: pd.DataFrame) -> None:
    import pyarrow as pa

    try:
        store.write_to_online_store(view, df=rows.reset_index(drop=True))
    except (ValueError, TypeError, KeyError, pa.ArrowException) as exc:
        raise BadReadError(f"df does not fit view {view!r}: {exc}") from exc


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with _THREADS, open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
