"""What each period's drift is judged against, as the task's `Seasonality` says.

- "training": the champion's training rows (a sample of its frame).
- "recent": the feature values served in the last `periods` periods, and the probabilities
  the champion itself served in them. Served values are compared with served values: the
  online store answers as of its last batch, so a training frame (exact at every moment) is
  no fair reference for them. The first period has no such reference and is not judged; the
  probabilities of a new champion are judged once it has served a period.
- "same_weeks": the champion's training rows whose day of the year lies within `window` of
  the period's, in any year.
"""

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from larder.task import Seasonality
from monitoring.champion import Champion

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Reference:
    features: pl.DataFrame
    probability: pl.Series
    what: str  # said in the period's report, e.g. "served 2013-06-03 to 2013-07-01"


@dataclass(frozen=True)
class _Served:
    begin: datetime
    version: str  # the champion that served it
    features: pl.DataFrame
    probability: pl.Series


class References:
    def __init__(self, seasonality: Seasonality, period: timedelta) -> None:
        self.seasonality = seasonality
        self.period = period
        self._served: deque[_Served] = deque(maxlen=seasonality.periods)

    def served(
        self, begin: datetime, version: str, features: pl.DataFrame, probability: pl.Series
    ) -> None:
        """What the period starting at `begin` served, and which champion served it."""
        self._served.append(_Served(begin, version, features, probability))

    def of(self, champ: Champion, begin: datetime, end: datetime) -> Reference:
        kind = self.seasonality.reference
        if kind == "recent":
            return self._recent(champ)
        if kind == "same_weeks":
            keep = _same_weeks(champ.reference_time, begin, end, self.seasonality.window)
            days = self.seasonality.window.days
            return _rows(champ, keep, f"training rows within {days} days of these days of the year")
        return Reference(champ.reference, champ.reference_probability, "the training rows")

    def _recent(self, champ: Champion) -> Reference:
        same = [s for s in self._served if list(s.features.columns) == champ.names]
        if not same:
            nothing = champ.reference.head(0), champ.reference_probability.head(0)
            return Reference(*nothing, "nothing served yet (not judged)")
        own = [s.probability for s in same if s.version == champ.version]
        probability = pl.concat(own) if own else champ.reference_probability.head(0)
        return Reference(
            pl.concat([s.features for s in same], how="diagonal_relaxed"),
            probability,
            f"served from {same[0].begin:%Y-%m-%d} ({len(same)} period(s))",
        )


def _rows(champ: Champion, keep: pl.Series, what: str) -> Reference:
    return Reference(champ.reference.filter(keep), champ.reference_probability.filter(keep), what)


def _same_weeks(times: pl.Series, begin: datetime, end: datetime, window: timedelta) -> pl.Series:
    """Whether each moment's day of the year is within `window` of [begin, end)'s (circular, so
    late December is near early January)."""
    middle = begin + (end - begin) / 2
    reach = ((end - begin) / 2 + window).total_seconds() / 86400
    day = times.dt.ordinal_day().cast(pl.Float64) + times.dt.hour().cast(pl.Float64) / 24
    mid = middle.timetuple().tm_yday + middle.hour / 24
    gap = (day - mid).abs().to_numpy()
    return pl.Series(np.minimum(gap, DAYS_PER_YEAR - gap) <= reach)
