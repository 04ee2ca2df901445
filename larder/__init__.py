"""Larder: a feature-store-centred ML platform. This module is the vocabulary a domain folder
declares itself in; `python -m larder init DIR` writes a working one.

    from larder import Source, Monthly, derivation, WindowedView, count, mean, Task, ...

See larder.sources (tables and their contracts), larder.derive (derivations), larder.views
(windowed, observed and static views, and their Feast FeatureViews) and larder.task (the
prediction task).
"""

from larder.derive import Derivation, derivation
from larder.sources import (
    ROW,
    UTC_US,
    KnownAt,
    Monthly,
    Reference,
    RowRule,
    Sample,
    Source,
    failures,
    package_file,
    repo_file,
    sample_frame,
)
from larder.task import GradientBoosting, RateBy, Replay, Seasonality, Task, TimeSplit
from larder.views import (
    EVENT_TIMESTAMP,
    STATIC_SINCE,
    TODAY,
    Aggregation,
    ObservedView,
    StaticView,
    View,
    WindowedView,
    count,
    data_dir,
    distinct,
    feature_view,
    last,
    maximum,
    mean,
    minimum,
    offline_source,
    share,
    total,
    window_length,
)

__all__ = [
    "EVENT_TIMESTAMP",
    "ROW",
    "STATIC_SINCE",
    "TODAY",
    "UTC_US",
    "Aggregation",
    "Derivation",
    "GradientBoosting",
    "KnownAt",
    "Monthly",
    "ObservedView",
    "RateBy",
    "Reference",
    "Replay",
    "Seasonality",
    "RowRule",
    "Sample",
    "Source",
    "StaticView",
    "Task",
    "TimeSplit",
    "View",
    "WindowedView",
    "count",
    "data_dir",
    "derivation",
    "distinct",
    "failures",
    "feature_view",
    "last",
    "maximum",
    "mean",
    "minimum",
    "offline_source",
    "package_file",
    "repo_file",
    "sample_frame",
    "share",
    "total",
    "window_length",
]
