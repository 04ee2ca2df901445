"""The numeric core of the windowed engine (`pipelines/window_ranges.py`) against plain loops,
and the engine's output independent of how it cuts the events into parts."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import window_ranges as ranges
from pipelines import windows
from tests.pipelines.test_windows import VIEW, _frame, event

sorted_keys = st.lists(st.integers(0, 60), max_size=30).map(sorted)


@settings(max_examples=100, deadline=None)
@given(events=sorted_keys, shifts=st.lists(st.integers(0, 20), min_size=1, max_size=3))
def test_merge_counts_the_events_and_leavers_at_or_before_each_moment(events, shifts) -> None:
    keys = np.array(events, dtype=np.int64)
    leaving = [keys + s for s in shifts]
    moments, counts = ranges.merge(keys, leaving, tag_bits=len(shifts).bit_length())
    assert moments.tolist() == sorted({*events, *(int(k) for run in leaving for k in run)})
    for run, count in zip([keys, *leaving], counts, strict=True):
        assert count.tolist() == [int((run <= m).sum()) for m in moments]


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=40),
    bounds=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=30),
    kind=st.sampled_from([np.minimum, np.maximum]),
)
def test_range_extremes_equal_brute_force(values, bounds, kind) -> None:
    array = np.array(values, dtype=np.int64)
    lo = np.array([min(a, b, len(values)) for a, b in bounds], dtype=np.int64)
    hi = np.array([min(max(a, b), len(values)) for a, b in bounds], dtype=np.int64)
    found = ranges.range_extreme(ranges.narrow(array), lo, hi, kind)
    for got, a, b in zip(found.tolist(), lo, hi, strict=True):
        if b > a:  # empty ranges read arbitrary cells
            assert got == (min if kind is np.minimum else max)(values[a:b])


def test_narrow_keeps_every_value() -> None:
    for values in ([0, 127], [-129, 5], [2**31, -1], [2**40]):
        array = np.array(values, dtype=np.int64)
        assert ranges.narrow(array).tolist() == values
    assert ranges.narrow(np.array([-129, 5])).dtype == np.int16


@given(events=sorted_keys)
def test_run_starts_point_at_the_first_tied_event(events) -> None:
    starts = ranges.run_starts(np.array(events, dtype=np.int64))
    assert starts.tolist() == [events.index(k) for k in events]


def test_next_midnight_is_local_across_daylight_saving() -> None:
    zone = ZoneInfo("America/New_York")
    start = datetime(2013, 3, 8, tzinfo=UTC)
    days = ranges.Days(start, start + timedelta(days=240), "America/New_York")
    times = [start + timedelta(hours=7 * i, microseconds=i) for i in range(700)]
    micros = np.array([ranges.micros(t - windows.EPOCH) for t in times], dtype=np.int64)
    for t, got in zip(times, days.next(micros).tolist(), strict=True):
        local = t.astimezone(zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
        assert got == ranges.micros(midnight - windows.EPOCH)


@settings(max_examples=30, deadline=None)
@given(events=st.lists(event, min_size=1, max_size=40))
def test_parts_do_not_change_the_table(events) -> None:
    frame = _frame(events).with_columns(pl.col("k") + pl.col("v").abs().mod(3).cast(pl.String))
    whole = windows.compute(frame.lazy(), VIEW).collect()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(windows, "PART_ROWS", 2)  # a part per entity, nearly
        cut = windows.compute(frame.lazy(), VIEW).collect()
    assert cut.equals(whole)
