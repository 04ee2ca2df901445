"""The sorted-search join (`stores.search`) and the DuckDB as-of join it falls back to agree with
a brute-force point-in-time reference on random event streams: ties on event time broken by
created time (a missing one oldest), entity rows exactly on an event or a ttl edge, before any
data, with unknown keys, integer and string keys, nulls and NaN in every feature type, and a
source split over several files."""

import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stores.asof import ViewJoin
from stores.duck import Limits, Scan
from stores.errors import UnsupportedSourceError
from stores.offline import _duckdb_join, _entity_table, point_in_time_join
from stores.search import EntityRows, search_join
from tests.stores.pit_reference import reference, same

BASE = datetime(2024, 3, 1, 6, 0, 0, 500, tzinfo=UTC)
STEP = timedelta(minutes=15)
FEATURES = ["x", "y", "s", "b", "t"]

events = st.lists(
    st.tuples(
        st.integers(0, 2),  # key
        st.integers(0, 6),  # event time, in steps: collisions are common
        st.one_of(st.none(), st.integers(0, 3)),  # created, in seconds after the event
        st.one_of(st.none(), st.integers(-50, 50)),
        st.one_of(st.none(), st.just(math.nan), st.floats(-1e6, 1e6)),
        st.one_of(st.none(), st.sampled_from(["a", "b", ""])),
        st.one_of(st.none(), st.booleans()),
    ),
    max_size=40,
)
lookups = st.lists(
    st.tuples(
        st.integers(0, 4),  # keys 3 and 4 never have events
        st.integers(-2, 9),  # in steps, before and after the data
        st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(hours=1)]),
    ),
    max_size=30,
)


def _events_table(rows, text_keys: bool, created_decides: bool) -> pa.Table:
    """Rows never tie on what decides between them: (key, time) and, if `created_decides`,
    the created time."""
    seen, kept = set(), []
    for row in rows:
        tie = row[:3] if created_decides else row[:2]
        if tie not in seen:
            seen.add(tie)
            kept.append(row)
    columns = [list(c) for c in zip(*kept, strict=True)] if kept else [[]] * 7
    key, step, created, x, y, s, b = columns
    times = [BASE + n * STEP for n in step]
    return pa.table(
        {
            "k": pa.array(
                [f"k{v}" for v in key] if text_keys else key,
                pa.string() if text_keys else pa.int64(),
            ),
            "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
            "created": pa.array(
                [
                    None if c is None else t + timedelta(seconds=c)
                    for t, c in zip(times, created, strict=True)
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "x": pa.array(x, pa.int32()),
            "y": pa.array(y, pa.float64()),
            "s": pa.array(s, pa.string()),
            "b": pa.array(b, pa.bool_()),
            "t": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )


def _entity_frame(rows, text_keys: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "k": [f"k{k}" if text_keys else k for k, _, _ in rows],
            "event_timestamp": pd.to_datetime(
                [BASE + n * STEP + shift for _, n, shift in rows], utc=True
            ),
            "row": np.arange(len(rows), dtype="int64"),
        }
    ).astype({"k": "object" if text_keys else "int64"})


def _join(pattern: str, many: bool, ttl, created: bool) -> ViewJoin:
    return ViewJoin(
        scan=Scan(pattern, many_files=many),
        keys=[("k", "k")],
        ts="ts",
        created="created" if created else None,
        features=[(name, name) for name in FEATURES],
        ttl=ttl,
    )


def _check(frame: pd.DataFrame, entities: pd.DataFrame, table: pa.Table, ttl, created) -> None:
    events_frame = table.to_pandas()
    for i, entity in entities.iterrows():
        match = reference(entity, events_frame, "k", ttl, "created" if created else None)
        for name in FEATURES:
            want = None if match is None else match[name]
            got = frame[name].iloc[i]
            assert same(got, want), (i, name, got, want)


TIES = [  # key 0 at step 3 three times: no created time, 1 s and 2 s after the event
    (0, 3, 2, 2, 2.0, "b", False),
    (0, 3, None, 0, 0.0, "", None),
    (0, 3, 1, 1, 1.0, "a", True),
    (0, 5, None, 5, math.nan, None, True),
]
LOOKS = [(0, 3, timedelta(0)), (0, 4, timedelta(0)), (0, 5, -timedelta(microseconds=1))]


@settings(max_examples=80, deadline=None)
@example(TIES, LOOKS, False, None, True, False)
@example(TIES, LOOKS, True, timedelta(minutes=30), True, True)
@given(
    rows=events,
    looks=lookups,
    text_keys=st.booleans(),
    ttl=st.sampled_from([None, timedelta(hours=1), timedelta(minutes=30)]),
    created=st.booleans(),
    split=st.booleans(),
)
def test_search_and_duckdb_joins_equal_the_reference(rows, looks, text_keys, ttl, created, split):
    table = _events_table(rows, text_keys, created)
    entities = _entity_frame(looks, text_keys)
    with tempfile.TemporaryDirectory() as folder:
        if split:  # a folder of files, as partitioned sources are written
            for n, part in enumerate(
                [table.slice(0, table.num_rows // 2), table.slice(table.num_rows // 2)]
            ):
                (Path(folder) / f"part={n}").mkdir()
                pq.write_table(part, Path(folder) / f"part={n}" / "data.parquet")
            join = _join(str(Path(folder) / "**" / "*.parquet"), True, ttl, created)
        else:
            pq.write_table(table, Path(folder) / "events.parquet")
            join = _join(str(Path(folder) / "events.parquet"), False, ttl, created)
        arrow, ts = _entity_table(entities, "event_timestamp")
        searched = search_join(EntityRows.of(arrow, ts, ["k"]), join).to_pandas()
        joined = _duckdb_join(arrow, ts, ["k"], join, Limits(memory_limit="512MB")).to_pandas()
        stored = point_in_time_join(entities, "event_timestamp", [join], Limits()).to_pandas()
    assert stored["row"].tolist() == entities["row"].tolist()
    for frame in (searched, joined, stored):
        _check(frame, entities, table, ttl, created)
    pd.testing.assert_frame_equal(searched, joined, check_dtype=False)


def test_a_source_the_search_cannot_read_goes_to_duckdb(tmp_path) -> None:
    """Event times stored as text are no timestamps to the search; DuckDB casts them."""
    table = _events_table(
        [(1, 2, None, 7, 1.5, "a", True), (1, 4, None, 8, 2.5, "b", False)], False, False
    )
    texts = table.set_column(1, "ts", pa.array([str(t) for t in table["ts"].to_pylist()]))
    pq.write_table(texts, tmp_path / "events.parquet")
    join = _join(str(tmp_path / "events.parquet"), False, None, False)
    entities = _entity_frame(
        [(1, 3, timedelta(0)), (1, 5, timedelta(0)), (2, 5, timedelta(0))], False
    )
    arrow, ts = _entity_table(entities, "event_timestamp")
    with pytest.raises(UnsupportedSourceError, match="not times"):
        search_join(EntityRows.of(arrow, ts, ["k"]), join)
    frame = point_in_time_join(entities, "event_timestamp", [join], Limits()).to_pandas()
    assert frame["x"].tolist()[:2] == [7, 8] and math.isnan(frame["x"].tolist()[2])
