"""Windows as ranges of sorted events: the numeric core of `pipelines/windows.py`.

Every entity's events are laid on one integer axis of microseconds (`Line`), each entity in a
slice of its own, and sorted. A window of an entity at a moment m is then a range [lo, hi) of
that array: hi counts the events at or before m, lo those that have left the window by m.
Counts and integer sums are differences of cumulative sums, minimum and maximum a lookup in a
sparse table, the latest event is the one at hi - 1. Exact integer arithmetic throughout.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

MICROSECOND = timedelta(microseconds=1)
MAX_KEY = 2**63 - 1


def micros(length: timedelta) -> int:
    return length // MICROSECOND


@dataclass(frozen=True)
class Line:
    """Entity g owns [g * span, (g + 1) * span); its moment t sits at g * span + (t - first).

    `span` exceeds the entities' time range by the longest reach of a window on either side,
    so no window of one entity reaches another's events. Keys leave `tag_bits` low bits free
    for `merge` to tag them with.
    """

    first: int  # the earliest event, in microseconds since the epoch
    span: int
    tag_bits: int

    @classmethod
    def around(cls, first: int, last: int, reach: timedelta, runs: int) -> "Line":
        return cls(first, last - first + 2 * micros(reach) + 1, (runs - 1).bit_length())

    def entities_per_part(self) -> int:
        """How many entities fit on one 64-bit line (the rest go to further parts)."""
        return max(1, (MAX_KEY >> self.tag_bits) // self.span)

    def key(self, entity: np.ndarray, t: np.ndarray) -> np.ndarray:
        return entity * self.span + (t - self.first)

    def place(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The entity and time of each key."""
        entity = key // self.span  # one division: numpy's divmod is several times slower
        return entity, key - entity * self.span + self.first


class Days:
    """Local midnights (UTC microseconds) of every day from `start` to `end`, in `zone`."""

    def __init__(self, start: datetime, end: datetime, zone: str) -> None:
        days = pl.date_range(_day(start, -2), _day(end, 2), "1d", eager=True)
        local = days.cast(pl.Datetime("us")).dt.replace_time_zone(zone)
        self.midnights = local.dt.convert_time_zone("UTC").to_physical().to_numpy()

    def next(self, t: np.ndarray) -> np.ndarray:
        """The first local midnight after t."""
        return self.midnights[np.searchsorted(self.midnights, t, side="right")]


def _day(t: datetime, shift: int) -> date:
    # a local date is within a day of the UTC date: two days of margin cover every zone
    return (t + timedelta(days=shift)).date()


def merge(
    events: np.ndarray, leaving: list[np.ndarray], tag_bits: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct moments of sorted events and of their (sorted) leaving times, and at each
    moment the number of events so far (hi) and of those that have left each window (lo).

    One merge of the sorted runs replaces a binary search per moment and window. Each key is
    tagged with its run in its low bits, so a plain sort of integers keeps the tags. An event
    leaving at exactly m is out of the window at m: counts are read at the end of m's run.
    """
    runs = [events, *leaving]
    moments = np.concatenate(runs)
    moments <<= tag_bits
    for r in range(1, len(runs)):
        moments[r * events.size : (r + 1) * events.size] |= r
    moments.sort(kind="stable")  # timsort: merging sorted runs takes linear time
    tags = moments.astype(np.int8) & ((1 << tag_bits) - 1)  # the cast keeps the low bits
    moments >>= tag_bits
    ends = np.empty(moments.size, dtype=bool)
    ends[-1:] = True
    np.not_equal(moments[1:], moments[:-1], out=ends[:-1])
    at = slice(None) if ends.all() else np.flatnonzero(ends)
    return moments[at], [np.cumsum(tags == r)[at] for r in range(len(runs))]


def cumulative(values: np.ndarray) -> np.ndarray:
    """Cumulative sums starting with 0, so the sum over [lo, hi) is out[hi] - out[lo]."""
    out = np.empty(values.size + 1, dtype=np.int64)
    out[0] = 0
    np.cumsum(values, out=out[1:])
    return out


def run_starts(events: np.ndarray) -> np.ndarray:
    """For each sorted event, the index of the first event tied with it."""
    starts = np.zeros(events.size, dtype=np.int64)
    changed = np.flatnonzero(events[1:] != events[:-1]) + 1
    starts[changed] = changed
    return np.maximum.accumulate(starts) if events.size else starts


def range_extreme(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, op) -> np.ndarray:
    """`op` (np.minimum or np.maximum) over each non-empty range [lo, hi) of `values`.

    A sparse table: row j holds op over the 2**j values from each position, and a range of
    size s is covered by two (overlapping) blocks of the largest 2**j <= s, so every range
    costs two lookups. Rows stop at the largest range. Empty ranges read arbitrary cells.
    """
    size = hi - lo
    largest = int(size.max(initial=1))
    table = _sparse_table(values, largest.bit_length(), op)
    level = np.zeros(largest + 1, dtype=np.int64)  # floor(log2(s)) for every size s
    for j in range(1, largest.bit_length()):
        level[1 << j :] = j
    row = level[size]
    start = row * table.shape[1]
    flat = table.reshape(-1)
    return op(flat[start + lo], flat[start + hi - (1 << row)])


def _sparse_table(values: np.ndarray, rows: int, op) -> np.ndarray:
    # one spare column, so that an empty range starting after the last value reads in bounds
    table = np.zeros((rows, values.size + 1), dtype=values.dtype)
    table[0, :-1] = values
    for j in range(1, rows):  # the tail of each row is never read: ranges end by the last value
        half = 1 << (j - 1)
        op(table[j - 1, : values.size - half], table[j - 1, half:-1], out=table[j, : -half - 1])
    return table


def narrow(values: np.ndarray) -> np.ndarray:
    """Integers in the smallest type that holds them: smaller tables are read faster."""
    if values.dtype.kind != "i" or not values.size:
        return values
    low, high = values.min(), values.max()
    for dtype in (np.int8, np.int16, np.int32):
        if np.iinfo(dtype).min <= low and high <= np.iinfo(dtype).max:
            return values.astype(dtype)
    return values
