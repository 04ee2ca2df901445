"""The bins drift counts both sides in, and the histograms the reports draw from them.

Bins (shared by both sides, always built from the reference):
- numeric: cut at the reference's quantiles (deduplicated, so ties merge bins); a feature with at
  most `bins` distinct values (integer counts, flags) gets one bin per distinct value instead.
  The outer bins are open-ended: values outside the reference's range land in the first or last.
- categorical (string, categorical, enum, boolean): one bucket per category of either side, so a
  category the reference never saw is a bucket of its own.
- missing (null, or NaN for floats) is an extra bucket on both sides, so a rise in the missing
  share alone is drift.
"""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import polars as pl

NUMERIC = "numeric"
CATEGORICAL = "categorical"
MISSING = "missing"

_CATEGORICAL_DTYPES = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)
Side = Literal["left", "right"]  # search_sorted side: "left" makes (a, b] bins, "right" [a, b)


@dataclass(frozen=True)
class _Bins:
    """Bins for non-missing values; every count vector adds the missing bucket after them."""

    size: int
    index: Callable[[pl.Series], pl.Series]  # non-missing values -> bin numbers in [0, size)
    labels: list[str]
    edges: list[float] | None = None  # numeric bins drawn as a histogram


# --- kinds and cleaning -------------------------------------------------------------------


def _kind(series: pl.Series, feature: str) -> str | None:
    """numeric or categorical; None for an all-null series of dtype Null, which fits either."""
    if series.dtype == pl.Null:
        return None
    if isinstance(series.dtype, _CATEGORICAL_DTYPES):
        return CATEGORICAL
    if series.dtype.is_numeric():
        return NUMERIC
    raise ValueError(
        f"feature {feature!r} has dtype {series.dtype}, which drift cannot compare; "
        "cast it to a numeric or string column first"
    )


def common_kind(reference: pl.Series, current: pl.Series, feature: str) -> str:
    """The kind both sides share; integer vs float is fine, string vs float is not."""
    ref_kind, cur_kind = _kind(reference, feature), _kind(current, feature)
    if ref_kind and cur_kind and ref_kind != cur_kind:
        raise ValueError(
            f"feature {feature!r}: reference dtype {reference.dtype} ({ref_kind}) and current "
            f"dtype {current.dtype} ({cur_kind}) cannot be compared; serve the feature with the "
            "type it was trained on"
        )
    return ref_kind or cur_kind or NUMERIC


def clean(series: pl.Series, kind: str) -> pl.Series:
    """Float64 with NaN turned into null, or String: missing is then just null."""
    if kind == NUMERIC:
        return series.cast(pl.Float64).fill_nan(None)
    return series.cast(pl.String)


def missing_share(series: pl.Series) -> float:
    return series.null_count() / len(series) if len(series) else 0.0


# --- bins, counts and shares --------------------------------------------------------------


def _cut_bins(
    breaks: list[float], side: Side, labels: list[str], edges: list[float] | None = None
) -> _Bins:
    """Bins split at sorted `breaks`, outer bins open-ended. side="left" makes (a, b] bins,
    side="right" makes [a, b) bins (a value equal to a break goes above it)."""
    cuts = pl.Series(breaks, dtype=pl.Float64)
    return _Bins(len(breaks) + 1, lambda v: cuts.search_sorted(v, side=side), labels, edges)


def _value_bins(distinct: list[float]) -> _Bins:
    """One bin per distinct reference value; other values go to the nearest value below."""
    labels = [f"{v:g}" for v in distinct] or ["any value"]
    return _cut_bins(distinct[1:], "right", labels)


def _quantile_bins(values: pl.Series, bins: int) -> _Bins:
    quantiles = [values.quantile(i / bins, "linear") for i in range(1, bins)]
    breaks = sorted({q for q in quantiles if q is not None})  # None only for an empty series
    bounds = [-np.inf, *breaks, np.inf]
    labels = [f"({lo:.4g}, {hi:.4g}]" for lo, hi in pairwise(bounds)]
    return _cut_bins(breaks, "left", labels)


def numeric_bins(values: pl.Series, bins: int) -> _Bins:
    """Bins from the reference's non-missing values."""
    distinct = values.unique().sort()
    if len(distinct) <= bins:
        return _value_bins(distinct.to_list())
    return _quantile_bins(values, bins)


def category_bins(reference: pl.Series, current: pl.Series) -> _Bins:
    """Reference categories first, then those only the current side has."""
    seen = reference.drop_nulls().unique().sort().to_list()
    new = sorted(set(current.drop_nulls().unique().to_list()) - set(seen))
    categories = seen + new
    positions = list(range(len(categories)))

    def index(values: pl.Series) -> pl.Series:
        return values.replace_strict(categories, positions, return_dtype=pl.UInt32)

    return _Bins(len(categories), index, categories)


def counts(values: pl.Series, bins: _Bins) -> np.ndarray:
    """Rows per bin, the missing bucket last."""
    # the cast keeps the bin numbers integers even with no categories at all
    counted = bins.index(values.drop_nulls()).cast(pl.UInt32).rename("bin").value_counts(name="n")
    per_bin = np.zeros(bins.size + 1, dtype=np.int64)
    per_bin[counted["bin"].to_numpy()] = counted["n"].to_numpy()
    per_bin[-1] = values.null_count()
    return per_bin


def shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


# --- report output ------------------------------------------------------------------------


def _even_bins(values: pl.Series, bins: int) -> _Bins:
    """Equal-width bins over the values' range ([a, b), the last one closed); for plotting."""
    finite = values.to_numpy()
    edges = np.linspace(finite.min(), finite.max(), bins + 1).tolist()
    labels = [f"[{lo:.4g}, {hi:.4g})" for lo, hi in pairwise(edges)]
    labels[-1] = labels[-1][:-1] + "]"
    return _cut_bins(edges[1:-1], "right", labels, edges)


def _plot_bins(reference: pl.Series, current: pl.Series, bins: int) -> _Bins:
    """Edges from the reference's finite values (the current's if the reference has none)."""
    for side in (reference, current):
        present = side.drop_nulls()
        finite = present.filter(present.is_finite())
        if len(finite) == 0:
            continue
        distinct = finite.unique().sort()
        if len(distinct) <= bins:
            return _value_bins(distinct.to_list())
        return _even_bins(finite, bins)
    return _value_bins([])


def _outside(values: pl.Series, edges: list[float] | None) -> int | None:
    if edges is None:
        return None
    present = values.drop_nulls()
    return int(((present < edges[0]) | (present > edges[-1])).sum())


def _side(values: pl.Series, bins: _Bins) -> dict[str, Any]:
    per_bin = counts(values, bins)
    return {
        "rows": len(values),
        "counts": per_bin.tolist(),
        "shares": shares(per_bin).tolist(),
        "outside_edges": _outside(values, bins.edges),  # piled into the end bins
    }


def histogram(reference: pl.Series, current: pl.Series, bins: int = 20) -> dict[str, Any]:
    """Counts and shares of both sides over shared bins, missing last; JSON-ready, for plots.

    Numeric: equal-width bins over the reference's range (one bin per value when it has at most
    `bins` distinct values; `edges` is then None); values outside the range are counted in the
    end bins and reported in `outside_edges`. Categorical: one bucket per category of either side.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    feature = reference.name or current.name
    kind = common_kind(reference, current, feature)
    ref, cur = clean(reference, kind), clean(current, kind)
    binning = _plot_bins(ref, cur, bins) if kind == NUMERIC else category_bins(ref, cur)
    return {
        "feature": feature,
        "kind": kind,
        "labels": [*binning.labels, MISSING],
        "edges": binning.edges,
        "reference": _side(ref, binning),
        "current": _side(cur, binning),
    }
