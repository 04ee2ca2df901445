"""The wide-key path of the windowed engine: when entities times the time range overflow 64-bit
sort keys (here 600 entities over five centuries), it gives what the 64-bit path gives."""

from datetime import UTC, datetime, timedelta

import polars as pl

from larder import UTC_US
from pipelines.windows import compute
from tests.pipelines.test_windows import VIEW

EARLY, LATE = datetime(1750, 3, 9, 3, tzinfo=UTC), datetime(2300, 11, 2, 5, tzinfo=UTC)


def _events(keys: list[str]) -> pl.DataFrame:
    rows = [
        (k, at + timedelta(minutes=7 * i + j), (i * 13 + j) % 50 - 10, j % 2 == 0)
        for k in keys
        for i in [int(k[1:])]
        for at in (EARLY, LATE)
        for j in range(3)
    ]
    schema = {"k": pl.String, "at": UTC_US, "v": pl.Int64, "flag": pl.Boolean}
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_wide_keys_equal_narrow_keys() -> None:
    # 550 years are 1.7e16 microseconds: 600 entities overflow 2**63, 300 do not
    keys = [f"e{i:03d}" for i in range(600)]
    wide = compute(_events(keys).lazy(), VIEW).collect()
    halves = [compute(_events(part).lazy(), VIEW).collect() for part in (keys[:300], keys[300:])]
    assert wide.filter(pl.col("event_timestamp") > LATE)["n_3h"].max() == 3
    assert wide.equals(pl.concat(halves))
