"""Views: what a domain serves, declared once for both the Polars jobs and Feast.

Three kinds, each computed by the platform into one offline table (`data/offline/<name>.parquet`,
keys + `event_timestamp` + features) that a Feast FeatureView of the same name reads
(`feature_view` builds it):

- `WindowedView`: aggregates of an event table per entity over sliding windows. The value of
  `{aggregation}_{window}` at time t covers the rows whose `timestamp` (the moment the row
  became known) lies in (t - window, t]; the `today` window covers [local midnight, t] in
  `day_zone`. `where` (SQL, as Polars' `sql_expr` reads it) keeps only some rows. A row is
  written at every event and at every moment an event leaves a window, so the latest row at
  or before t is exact, decayed, with no row per hour.
- `ObservedView`: the latest row of an event table per entity (an hourly observation, a
  storm's latest fix, for example), within `ttl`.
- `StaticView`: attributes that do not change: one row per entity, known since `since`.

Aggregations:
- `count`: rows in the window (0 when empty);
- `total` / `mean`: sum / mean of an integer column (exact: integer sums), null mean when empty;
- `minimum` / `maximum`: of a column; `last`: the column at the latest row (the largest value
  among rows tied at that moment); null when the window is empty;
- `share`: the share of rows where a SQL condition holds (a null condition counts as false);
- `distinct`: the number of distinct non-null values of a column (0 when empty).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import Entity, FeatureView, FileSource
    from feast.data_source import DataSource

TODAY = "today"
DTYPES = ("int64", "float64", "string")
KINDS = ("count", "total", "mean", "minimum", "maximum", "last", "share", "distinct")
# Static rows are stamped as known long before any event, and kept for a century: Feast needs a
# timestamp and a ttl, and materializing starts at (its end - ttl).
STATIC_SINCE = datetime(1970, 1, 1, tzinfo=UTC)
STATIC_TTL = timedelta(days=36500)
EVENT_TIMESTAMP = "event_timestamp"  # the timestamp column of every offline view table


@dataclass(frozen=True)
class Aggregation:
    name: str
    kind: str  # one of KINDS
    column: str | None = None
    where: str | None = None
    dtype: str = "int64"  # the feature's type, one of DTYPES

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"aggregation {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"aggregation {self.name!r}: dtype {self.dtype!r} not in {DTYPES}")


def count(name: str) -> Aggregation:
    return Aggregation(name, "count")


def total(name: str, column: str) -> Aggregation:
    return Aggregation(name, "total", column)


def mean(name: str, column: str) -> Aggregation:
    return Aggregation(name, "mean", column, dtype="float64")


def minimum(name: str, column: str, dtype: str = "int64") -> Aggregation:
    return Aggregation(name, "minimum", column, dtype=dtype)


def maximum(name: str, column: str, dtype: str = "int64") -> Aggregation:
    return Aggregation(name, "maximum", column, dtype=dtype)


def last(name: str, column: str, dtype: str = "int64") -> Aggregation:
    return Aggregation(name, "last", column, dtype=dtype)


def share(name: str, where: str) -> Aggregation:
    return Aggregation(name, "share", where=where, dtype="float64")


def distinct(name: str, column: str) -> Aggregation:
    return Aggregation(name, "distinct", column)


_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def window_length(window: str) -> timedelta:
    """`90m`, `3h`, `7d` -> a timedelta; `today` is at most a day long."""
    if window == TODAY:
        return timedelta(days=1)
    match = re.fullmatch(r"(\d+)([mhd])", window)
    if not match or int(match[1]) == 0:
        raise ValueError(f"window {window!r}: write a length like 90m, 3h or 7d, or 'today'")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True)
class WindowedView:
    name: str
    entities: tuple[str, ...]  # join keys
    source: str  # a source table or a derivation's output
    timestamp: str  # the column holding the moment a row became known
    windows: tuple[str, ...]
    aggregations: tuple[Aggregation, ...]
    description: str
    where: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    day_zone: str = "UTC"  # where `today` starts at midnight

    def __post_init__(self) -> None:
        for window in self.windows:
            window_length(window)
        if not self.windows or not self.aggregations:
            raise ValueError(f"view {self.name!r} needs at least one window and one aggregation")

    def lengths(self) -> dict[str, timedelta | None]:
        """Each window's length; None for `today`, which restarts at local midnight."""
        return {w: None if w == TODAY else window_length(w) for w in self.windows}

    @property
    def ttl(self) -> timedelta:
        """The widest window: the longest gap between two rows while a window is non-empty."""
        return max(window_length(w) for w in self.windows)

    def features(self) -> list[tuple[str, str]]:
        return [(f"{a.name}_{w}", a.dtype) for w in self.windows for a in self.aggregations]


@dataclass(frozen=True)
class ObservedView:
    """The latest row of `source` per entity at or before t, within `ttl`."""

    name: str
    entities: tuple[str, ...]
    source: str
    timestamp: str
    columns: Mapping[str, tuple[str, str]]  # feature -> (column of the source, dtype)
    ttl: timedelta
    description: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def features(self) -> list[tuple[str, str]]:
        return [(name, dtype) for name, (_, dtype) in self.columns.items()]


@dataclass(frozen=True)
class StaticView:
    """Attributes that do not change: one row per entity, known since `since`."""

    name: str
    entities: tuple[str, ...]
    source: str
    columns: Mapping[str, tuple[str, str]]  # feature -> (column of the source, dtype)
    description: str
    tags: Mapping[str, str] = field(default_factory=dict)
    ttl: timedelta = STATIC_TTL
    since: datetime = STATIC_SINCE

    @property
    def timestamp(self) -> None:
        return None

    def features(self) -> list[tuple[str, str]]:
        return [(name, dtype) for name, (_, dtype) in self.columns.items()]


View = WindowedView | ObservedView | StaticView


def data_dir(here: str | Path) -> Path:
    """A domain's data zones: `data/` inside its folder (`here`: the folder or a file in it),
    as Feast's own `feast init` lays a repo out."""
    path = Path(here).resolve()
    return (path.parent if path.is_file() else path) / "data"


def offline_source(name: str, here: str | Path) -> "FileSource":
    """The Feast FileSource of the offline table `name` that the pipelines write.

    Absolute: Feast resolves a relative path against the current directory, not the repo.
    """
    from feast import FileSource

    return FileSource(
        name=f"{name}_source",
        path=str(data_dir(here) / "offline" / f"{name}.parquet"),
        timestamp_field=EVENT_TIMESTAMP,
        description=f"Offline table {name}.parquet, written by the platform's transform.",
    )


def feature_view(
    view: View,
    entities: Sequence["Entity"],
    here: str | Path,
    source: "DataSource | None" = None,
    **options: Any,
) -> "FeatureView":
    """The FeatureView of a declared view: same name, features, types, ttl and description.

    `entities` are the Feast entities of `view.entities`, in order; `source` defaults to the
    view's offline table (give a PushSource over it to accept pushed rows); `options` go to
    Feast (owner, online, ...).
    """
    from feast import FeatureView, Field
    from feast.types import Float64, Int64, String

    types = {"int64": Int64, "float64": Float64, "string": String}
    keys = [entity.join_key for entity in entities]
    if tuple(keys) != tuple(view.entities):
        raise ValueError(f"view {view.name!r} is keyed by {view.entities}, entities give {keys}")
    return FeatureView(
        name=view.name,
        entities=list(entities),
        ttl=view.ttl,
        schema=[Field(name=name, dtype=types[dtype]) for name, dtype in view.features()],
        source=source or offline_source(view.name, here),
        description=view.description,
        tags=dict(view.tags),
        **options,
    )
