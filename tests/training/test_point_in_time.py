"""On every domain, the training frame's values of each batch view of the service are, for a
sample of examples, the latest row of the view's offline table at or before the prediction
time and within the view's ttl, found by a plain scan."""

import math

import pandas as pd
import polars as pl

from training.examples import ROW_ID, TIMESTAMP
from training.frames import get_service, open_store

ROWS = 120


def _same(a, b) -> bool:
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    if any(missing):
        return all(missing)
    if isinstance(a, str) or isinstance(b, str):  # a category
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-12)


def test_frames_equal_a_brute_force_point_in_time_scan(settings, frame) -> None:
    store = open_store(settings.feature_repo)
    service = get_service(store, settings.service)
    rows = frame.iloc[:: max(1, len(frame) // ROWS)]
    views = {v.name: v for v in store.list_feature_views()}
    checked = 0
    for projection in service.feature_view_projections:
        view = views.get(projection.name)
        if view is None:
            continue  # an on-demand view: computed, not looked up
        keys = [c.name for c in view.entity_columns]
        table = pl.read_parquet(view.batch_source.path).to_pandas()
        for _, row in rows.iterrows():
            t = row[TIMESTAMP]
            mine = table[(table[keys] == row[keys].to_numpy()).all(axis=1)]
            mine = mine[(mine["event_timestamp"] <= t) & (mine["event_timestamp"] >= t - view.ttl)]
            latest = mine.sort_values("event_timestamp").iloc[-1] if len(mine) else None
            for feature in projection.features:
                want = None if latest is None else latest[feature.name]
                assert _same(row[feature.name], want), (view.name, row[ROW_ID], feature.name)
                checked += latest is not None
    assert checked > 0
    assert isinstance(rows, pd.DataFrame)
