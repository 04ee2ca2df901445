"""Drift: how far one period of served features (or probabilities) moved from the training
reference.

Each feature is compared as two samples, `reference` (the training frame) and `current` (the
period's prediction log); served probabilities are compared the same way, as a numeric feature.

Why effect sizes and not p-values: a period of serving holds thousands of rows, and at
that size a hypothesis test calls any difference significant, however small. PSI, Jensen-Shannon
and a scaled Wasserstein distance measure *how much* the distribution moved, and a feature is
flagged when at least `DriftThresholds.votes` of them reach their thresholds (PSI 0.2 is the
usual "significant shift" in credit scoring; JS 0.1 and Wasserstein 0.1 reference-stds are
similar in size). Fewer than `min_rows` rows on either side: not judged, never flagged.

An effect is not enough on its own: a sample of a few hundred rows moves PSI and JS by chance
alone. So a feature is flagged only when a chi-square test of homogeneity over the same bins
also rejects "one distribution" at `DriftThresholds.alpha`. At thousands of rows the test always
rejects and the effect floors decide; at hundreds, the test holds back what chance explains.
Both sides of a threshold scale with the sample that way, so a week of 600 rows and a week of
6,000 get comparable verdicts.

Both sides are counted in the same bins, built from the reference, with missing values as a
bucket of their own: see monitoring.bins.

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

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import polars as pl
from scipy.special import rel_entr
from scipy.stats import chi2_contingency, wasserstein_distance

from monitoring.bins import (
    NUMERIC,
    category_bins,
    clean,
    common_kind,
    counts,
    missing_share,
    numeric_bins,
    shares,
)

EPSILON = 1e-4  # share given to an empty bin in PSI
IQR_PER_STD = 1.349  # interquartile range of a normal distribution, in standard deviations
STATISTICS = ("psi", "js", "wasserstein")
ALPHA = 0.001  # a feature drifts only if the chi-square test rejects at this level too


@dataclass(frozen=True)
class DriftThresholds:
    min_rows: int = 500  # below this on either side: not judged (too few rows), never flagged
    psi: float = 0.2  # population stability index at or above which a feature has drifted
    js: float = 0.1  # Jensen-Shannon distance (base 2)
    wasserstein: float = 0.1  # Wasserstein distance / reference scale (see module docstring)
    bins: int = 10  # quantile bins of the reference for PSI/JS
    votes: int = 2  # how many of the three statistics must be over their threshold
    alpha: float = ALPHA  # and the chi-square test of the binned counts must reject at this

    def __post_init__(self) -> None:
        if self.min_rows < 1:
            raise ValueError(f"min_rows must be at least 1, got {self.min_rows}")
        if self.bins < 1:
            raise ValueError(f"bins must be at least 1, got {self.bins}")
        if not 0 < self.alpha <= 1:  # 1: effect sizes alone decide
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
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
    p_value: float | None  # chi-square test of homogeneity over the bins; None when not judged
    drifted: bool
    reason: str  # e.g. "psi 0.31 >= 0.2, js 0.14 >= 0.1, wasserstein 0.05 < 0.1: drifted (...)"


# --- statistics ---------------------------------------------------------------------------


def psi(
    reference_counts: np.ndarray, current_counts: np.ndarray, epsilon: float = EPSILON
) -> float:
    """Population stability index over bin counts; empty bins get share `epsilon`."""
    r, c = shares(np.asarray(reference_counts)), shares(np.asarray(current_counts))
    r, c = np.where(r == 0, epsilon, r), np.where(c == 0, epsilon, c)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon distance in base 2, clipped to [0, 1] against rounding (scipy's can be NaN
    for identical inputs when the divergence rounds below 0)."""
    r, c = shares(np.asarray(reference_counts)), shares(np.asarray(current_counts))
    m = (r + c) / 2
    divergence = (rel_entr(r, m).sum() + rel_entr(c, m).sum()) / (2 * np.log(2))
    return float(np.sqrt(min(max(divergence, 0.0), 1.0)))


def chi_square_p(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """p-value of the chi-square test that both count vectors come from one distribution
    (bins empty on both sides are left out; one bin left: nothing can differ, p = 1)."""
    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


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


def _verdict(
    stats: dict[str, float | None], p_value: float, thresholds: DriftThresholds
) -> tuple[bool, str]:
    """Drifted when `votes` of the available statistics reach their thresholds (all of them,
    when fewer than `votes` are available: categorical features have no Wasserstein) and the
    chi-square test rejects at `alpha`."""
    available = {name: value for name, value in stats.items() if value is not None}
    over = [name for name, value in available.items() if value >= getattr(thresholds, name)]
    needed = min(thresholds.votes, len(available))
    significant = p_value < thresholds.alpha or thresholds.alpha == 1
    drifted = len(over) >= needed and significant
    parts = [
        f"{name} {value:.3g} {'>=' if name in over else '<'} {getattr(thresholds, name):g}"
        for name, value in available.items()
    ]
    parts.append(f"chi-square p {p_value:.2g} {'<' if significant else '>='} {thresholds.alpha:g}")
    tally = f"{len(over)} of {len(available)} over threshold, {needed} needed"
    if len(over) >= needed and not significant:
        tally += "; the test says chance explains it"
    return drifted, f"{', '.join(parts)}: {'drifted' if drifted else 'stable'} ({tally})"


def _statistics(
    reference: pl.Series,
    current: pl.Series,
    bins: int,
    finite: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[dict[str, float | None], float]:
    """PSI and JS (and Wasserstein for a numeric feature, whose `finite` values are given), and
    the chi-square test's p-value over the same bins."""
    if finite is not None:
        binning = numeric_bins(reference.drop_nulls(), bins)
    else:
        binning = category_bins(reference, current)
    r, c = counts(reference, binning), counts(current, binning)
    stats: dict[str, float | None] = {
        "psi": psi(r, c),
        "js": js_distance(r, c),
        "wasserstein": None,
    }
    if finite is not None:
        stats["wasserstein"] = scaled_wasserstein(*finite)
    return stats, chi_square_p(r, c)


def feature_drift(
    reference: pl.Series,
    current: pl.Series,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    name: str | None = None,
) -> FeatureDrift:
    """Compare one feature's served values with its training reference."""
    feature = name or reference.name or current.name
    kind = common_kind(reference, current, feature)
    ref, cur = clean(reference, kind), clean(current, kind)
    unjudged = _too_few_rows(len(ref), len(cur), thresholds.min_rows)
    result = FeatureDrift(
        feature=feature,
        kind=kind,
        reference_rows=len(ref),
        current_rows=len(cur),
        reference_missing=missing_share(ref),
        current_missing=missing_share(cur),
        psi=None,
        js=None,
        wasserstein=None,
        p_value=None,
        drifted=False,
        reason=unjudged or "",
    )
    if unjudged:
        return result
    finite = (_finite(ref), _finite(cur)) if kind == NUMERIC else None
    stats, p_value = _statistics(ref, cur, thresholds.bins, finite)
    drifted, reason = _verdict(stats, p_value, thresholds)
    if finite is not None and stats["wasserstein"] is None:
        reason += f"; {_wasserstein_note(*finite)}"
    return replace(
        result,
        psi=stats["psi"],
        js=stats["js"],
        wasserstein=stats["wasserstein"],
        p_value=p_value,
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
    "p_value": pl.Float64,
    "drifted": pl.Boolean,
    "reason": pl.String,
}


def drift_table(results: Sequence[FeatureDrift]) -> pl.DataFrame:
    """One row per feature, columns as in FeatureDrift (nulls where a statistic is None)."""
    return pl.DataFrame([asdict(r) for r in results], schema=TABLE_SCHEMA)
