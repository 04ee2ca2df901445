"""Drift: how far one week of served features (or probabilities) moved from the training reference.

Each feature is compared as two samples, `reference` (the training frame) and `current` (the
week's prediction log); served probabilities are compared the same way, as a numeric feature.

Why effect sizes and not p-values: a week of serving holds tens of thousands of rows, and at
that size a hypothesis test calls any difference significant, however small. PSI, Jensen-Shannon
and a scaled Wasserstein distance measure *how much* the distribution moved, and a feature is
flagged when at least `DriftThresholds.votes` of them reach their thresholds (PSI 0.2 is the
usual "significant shift" in credit scoring; JS 0.1 and Wasserstein 0.1 reference-stds are
similar in size). Fewer than `min_rows` rows on either side: not judged, never flagged.

Bins (shared by both sides, always built from the reference):
- numeric: cut at the reference's quantiles (deduplicated, so ties merge bins); a feature with at
  most `bins` distinct values (integer counts, flags) gets one bin per distinct value instead.
  The outer bins are open-ended: values outside the reference's range land in the first or last.
- categorical (string, categorical, enum, boolean): one bucket per category of either side, so a
  category the reference never saw is a bucket of its own.
- missing (null, or NaN for floats) is an extra bucket on both sides, so a rise in the missing
  share alone is drift.

Statistics, over bin shares r (reference) and c (current):
- PSI = sum((c - r) * ln(c / r)); an empty bin's share is replaced by EPSILON = 1e-4 (shares are
  not renormalised) so the log stays finite: one emptied bin adds about r * ln(r / 1e-4).
- JS: Jensen-Shannon distance in base 2 (0 identical, 1 disjoint); finite with empty bins, so no
  epsilon.
- Wasserstein (numeric only): scipy's 1-D earth mover's distance between the finite values,
  divided by the reference's sample std (ddof=1); when that is 0 or overflows, by IQR / 1.349
  (the std of a normal with that IQR); when that is 0 too, by 1 (raw units). Not computed (and
  said so in the reason) when either side has no finite values; infinities are still binned.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy.special import rel_entr
from scipy.stats import wasserstein_distance

EPSILON = 1e-4  # share given to an empty bin in PSI
IQR_PER_STD = 1.349  # interquartile range of a normal distribution, in standard deviations
NUMERIC = "numeric"
CATEGORICAL = "categorical"
MISSING = "missing"
STATISTICS = ("psi", "js", "wasserstein")

_CATEGORICAL_DTYPES = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)
Side = Literal["left", "right"]  # search_sorted side: "left" makes (a, b] bins, "right" [a, b)


@dataclass(frozen=True)
class DriftThresholds:
    min_rows: int = 500  # below this on either side: not judged (too few rows), never flagged
    psi: float = 0.2  # population stability index at or above which a feature has drifted
    js: float = 0.1  # Jensen-Shannon distance (base 2)
    wasserstein: float = 0.1  # Wasserstein distance / reference scale (see module docstring)
    bins: int = 10  # quantile bins of the reference for PSI/JS
    votes: int = 2  # how many of the three statistics must be over their threshold

    def __post_init__(self) -> None:
        if self.min_rows < 1:
            raise ValueError(f"min_rows must be at least 1, got {self.min_rows}")
        if self.bins < 1:
            raise ValueError(f"bins must be at least 1, got {self.bins}")
        if not 1 <= self.votes <= len(STATISTICS):
            raise ValueError(f"votes must be between 1 and {len(STATISTICS)}, got {self.votes}")
        for name in STATISTICS:
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"the {name} threshold must be positive, got {getattr(self, name)}"
                )


DEFAULT_THRESHOLDS = DriftThresholds()


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # "numeric" or "categorical"
    reference_rows: int
    current_rows: int
    reference_missing: float  # share of null/NaN
    current_missing: float
    psi: float | None  # None when not judged
    js: float | None
    wasserstein: float | None  # None for categorical, or when a side has no finite values
    drifted: bool
    reason: str  # e.g. "psi 0.31 >= 0.2, js 0.14 >= 0.1, wasserstein 0.05 < 0.1: drifted (...)"


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


def _common_kind(reference: pl.Series, current: pl.Series, feature: str) -> str:
    """The kind both sides share; integer vs float is fine, string vs float is not."""
    ref_kind, cur_kind = _kind(reference, feature), _kind(current, feature)
    if ref_kind and cur_kind and ref_kind != cur_kind:
        raise ValueError(
            f"feature {feature!r}: reference dtype {reference.dtype} ({ref_kind}) and current "
            f"dtype {current.dtype} ({cur_kind}) cannot be compared; serve the feature with the "
            "type it was trained on"
        )
    return ref_kind or cur_kind or NUMERIC


def _clean(series: pl.Series, kind: str) -> pl.Series:
    """Float64 with NaN turned into null, or String: missing is then just null."""
    if kind == NUMERIC:
        return series.cast(pl.Float64).fill_nan(None)
    return series.cast(pl.String)


def _missing_share(series: pl.Series) -> float:
    return series.null_count() / len(series) if len(series) else 0.0


# --- bins and counts ----------------------------------------------------------------------


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


def _numeric_bins(values: pl.Series, bins: int) -> _Bins:
    """Bins from the reference's non-missing values."""
    distinct = values.unique().sort()
    if len(distinct) <= bins:
        return _value_bins(distinct.to_list())
    return _quantile_bins(values, bins)


def _category_bins(reference: pl.Series, current: pl.Series) -> _Bins:
    """Reference categories first, then those only the current side has."""
    seen = reference.drop_nulls().unique().sort().to_list()
    new = sorted(set(current.drop_nulls().unique().to_list()) - set(seen))
    categories = seen + new
    positions = list(range(len(categories)))

    def index(values: pl.Series) -> pl.Series:
        return values.replace_strict(categories, positions, return_dtype=pl.UInt32)

    return _Bins(len(categories), index, categories)


def _counts(values: pl.Series, bins: _Bins) -> np.ndarray:
    """Rows per bin, the missing bucket last."""
    # the cast keeps the bin numbers integers even with no categories at all
    counted = bins.index(values.drop_nulls()).cast(pl.UInt32).rename("bin").value_counts(name="n")
    counts = np.zeros(bins.size + 1, dtype=np.int64)
    counts[counted["bin"].to_numpy()] = counted["n"].to_numpy()
    counts[-1] = values.null_count()
    return counts


# --- statistics ---------------------------------------------------------------------------


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def psi(
    reference_counts: np.ndarray, current_counts: np.ndarray, epsilon: float = EPSILON
) -> float:
    """Population stability index over bin counts; empty bins get share `epsilon`."""
    r, c = _shares(np.asarray(reference_counts)), _shares(np.asarray(current_counts))
    r, c = np.where(r == 0, epsilon, r), np.where(c == 0, epsilon, c)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon distance in base 2, clipped to [0, 1] against rounding (scipy's can be NaN
    for identical inputs when the divergence rounds below 0)."""
    r, c = _shares(np.asarray(reference_counts)), _shares(np.asarray(current_counts))
    m = (r + c) / 2
    divergence = (rel_entr(r, m).sum() + rel_entr(c, m).sum()) / (2 * np.log(2))
    return float(np.sqrt(min(max(divergence, 0.0), 1.0)))


def reference_scale(values: np.ndarray) -> float:
    """Sample std; IQR / 1.349 when that is 0 or overflows; else 1 (raw units)."""
    with np.errstate(over="ignore", invalid="ignore"):  # huge values overflow the variance
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    if np.isfinite(std) and std > 0:
        return std
    q25, q75 = np.percentile(values, [25, 75]) if len(values) else (0.0, 0.0)
    iqr_scale = float(q75 - q25) / IQR_PER_STD
    return iqr_scale if np.isfinite(iqr_scale) and iqr_scale > 0 else 1.0


def scaled_wasserstein(reference: np.ndarray, current: np.ndarray) -> float | None:
    """Wasserstein distance between the finite values in units of the reference's scale."""
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    if not len(reference) or not len(current):
        return None
    return float(wasserstein_distance(reference, current)) / reference_scale(reference)


def _finite(series: pl.Series) -> np.ndarray:
    values = series.drop_nulls().to_numpy()
    return values[np.isfinite(values)]


def _wasserstein_note(reference: np.ndarray, current: np.ndarray) -> str:
    sides = [name for name, v in (("reference", reference), ("served", current)) if not len(v)]
    return f"wasserstein not computed: no finite {' or '.join(sides)} values"


# --- verdict ------------------------------------------------------------------------------


def _too_few_rows(reference_rows: int, current_rows: int, min_rows: int) -> str | None:
    short = [
        f"{rows} {side} rows < {min_rows}"
        for side, rows in (("reference", reference_rows), ("served", current_rows))
        if rows < min_rows
    ]
    return f"not judged: {', '.join(short)}" if short else None


def _verdict(stats: dict[str, float | None], thresholds: DriftThresholds) -> tuple[bool, str]:
    """Drifted when `votes` of the available statistics reach their thresholds (all of them,
    when fewer than `votes` are available: categorical features have no Wasserstein)."""
    available = {name: value for name, value in stats.items() if value is not None}
    over = [name for name, value in available.items() if value >= getattr(thresholds, name)]
    needed = min(thresholds.votes, len(available))
    drifted = len(over) >= needed
    parts = [
        f"{name} {value:.3g} {'>=' if name in over else '<'} {getattr(thresholds, name):g}"
        for name, value in available.items()
    ]
    tally = f"{len(over)} of {len(available)} over threshold, {needed} needed"
    return drifted, f"{', '.join(parts)}: {'drifted' if drifted else 'stable'} ({tally})"


def _statistics(
    reference: pl.Series, current: pl.Series, kind: str, bins: int
) -> dict[str, float | None]:
    if kind == NUMERIC:
        binning = _numeric_bins(reference.drop_nulls(), bins)
    else:
        binning = _category_bins(reference, current)
    r, c = _counts(reference, binning), _counts(current, binning)
    stats: dict[str, float | None] = {
        "psi": psi(r, c),
        "js": js_distance(r, c),
        "wasserstein": None,
    }
    if kind == NUMERIC:
        stats["wasserstein"] = scaled_wasserstein(_finite(reference), _finite(current))
    return stats


def feature_drift(
    reference: pl.Series,
    current: pl.Series,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    name: str | None = None,
) -> FeatureDrift:
    """Compare one feature's served values with its training reference."""
    feature = name or reference.name or current.name
    kind = _common_kind(reference, current, feature)
    ref, cur = _clean(reference, kind), _clean(current, kind)
    unjudged = _too_few_rows(len(ref), len(cur), thresholds.min_rows)
    result = FeatureDrift(
        feature=feature,
        kind=kind,
        reference_rows=len(ref),
        current_rows=len(cur),
        reference_missing=_missing_share(ref),
        current_missing=_missing_share(cur),
        psi=None,
        js=None,
        wasserstein=None,
        drifted=False,
        reason=unjudged or "",
    )
    if unjudged:
        return result
    stats = _statistics(ref, cur, kind, thresholds.bins)
    drifted, reason = _verdict(stats, thresholds)
    if kind == NUMERIC and stats["wasserstein"] is None:
        reason += f"; {_wasserstein_note(_finite(ref), _finite(cur))}"
    return replace(
        result,
        psi=stats["psi"],
        js=stats["js"],
        wasserstein=stats["wasserstein"],
        drifted=drifted,
        reason=reason,
    )


def frame_drift(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    features: Sequence[str],
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
) -> list[FeatureDrift]:
    """One result per feature, in the order given."""
    for side, frame in (("reference", reference), ("current", current)):
        absent = [f for f in features if f not in frame.columns]
        if absent:
            raise ValueError(
                f"feature(s) {absent} missing from the {side} frame, which has columns "
                f"{frame.columns}"
            )
    return [feature_drift(reference[f], current[f], thresholds, name=f) for f in features]


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
    counts = _counts(values, bins)
    return {
        "rows": len(values),
        "counts": counts.tolist(),
        "shares": _shares(counts).tolist(),
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
    kind = _common_kind(reference, current, feature)
    ref, cur = _clean(reference, kind), _clean(current, kind)
    binning = _plot_bins(ref, cur, bins) if kind == NUMERIC else _category_bins(ref, cur)
    return {
        "feature": feature,
        "kind": kind,
        "labels": [*binning.labels, MISSING],
        "edges": binning.edges,
        "reference": _side(ref, binning),
        "current": _side(cur, binning),
    }


TABLE_SCHEMA = {
    "feature": pl.String,
    "kind": pl.String,
    "reference_rows": pl.Int64,
    "current_rows": pl.Int64,
    "reference_missing": pl.Float64,
    "current_missing": pl.Float64,
    "psi": pl.Float64,
    "js": pl.Float64,
    "wasserstein": pl.Float64,
    "drifted": pl.Boolean,
    "reason": pl.String,
}


def drift_table(results: Sequence[FeatureDrift]) -> pl.DataFrame:
    """One row per feature, columns as in FeatureDrift (nulls where a statistic is None)."""
    return pl.DataFrame([asdict(r) for r in results], schema=TABLE_SCHEMA)
