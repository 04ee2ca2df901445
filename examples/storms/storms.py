"""Feast declarations for the Atlantic storms: entities, views, the request and the service.

A storm is keyed by its name and its year (two entities, as Feast keys a view by several).
The latest fix reaches the online store as it is made, pushed to the server (`POST /push`);
everything else is materialized from the offline store.
"""

from typing import Any

import views  # this folder's declarations; `feast apply` puts the folder on sys.path
from feast import Entity, FeatureService, Field, PushSource, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, UnixTimestamp
from feast.value_type import ValueType

from larder import feature_view, offline_source

OWNER = "storms@example.com"

storm_name = Entity(
    name="storm_name",
    join_keys=["name"],
    value_type=ValueType.STRING,
    description="The storm's name (unnamed ones by their NOAA number, e.g. AL011993).",
)
season = Entity(
    name="season",
    join_keys=["year"],
    value_type=ValueType.INT64,
    description="The storm's year: a name is reused in later seasons.",
)
basin = Entity(
    name="basin",
    join_keys=["basin"],
    value_type=ValueType.STRING,
    description="The ocean basin, NOAA's code: AL for the North Atlantic.",
)

storm_track_push = PushSource(
    name="storm_track_push",
    batch_source=offline_source("storm_track", __file__),
    description="Each fix pushed as it is made; the same rows land in batch.",
)
storm_track = feature_view(
    views.STORM_TRACK, [storm_name, season], __file__, source=storm_track_push, owner=OWNER
)
storm_history = feature_view(views.STORM_HISTORY, [storm_name, season], __file__, owner=OWNER)
storm_age = feature_view(views.STORM_AGE, [storm_name, season], __file__, owner=OWNER)
basin_activity = feature_view(views.BASIN_ACTIVITY, [basin], __file__, owner=OWNER)

observation = RequestSource(
    name="observation",
    schema=[
        Field(name="observed_at", dtype=UnixTimestamp, description="When the fix was made."),
        Field(name="lat", dtype=Float64, description="The storm's latitude, degrees north."),
        Field(name="long", dtype=Float64, description="The storm's longitude, degrees east."),
    ],
    description="The fix a prediction is asked for.",
)


@on_demand_feature_view(
    sources=[storm_age, observation],
    schema=[
        Field(name="latitude", dtype=Float64),
        Field(name="longitude", dtype=Float64),
        Field(name="month", dtype=Int64),
        Field(name="hours_since_first", dtype=Int64),
    ],
    mode="python",
    description=(
        "Request-time features of the fix: where the storm is, the month, and the hours since "
        "the storm's first fix (null when it has none within 30 days)."
    ),
    owner=OWNER,
    tags={"entity": "storm", "kind": "request-time"},
)
def fix_context(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    # Self-contained: Feast stores this function's code in the registry, not this file's.
    from datetime import UTC, datetime

    def moment(t: Any) -> datetime:  # Feast passes a request's value as it came
        if isinstance(t, str):
            t = datetime.fromisoformat(t)
        elif isinstance(t, int | float):
            t = datetime.fromtimestamp(t, UTC)
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    moments = [moment(t) for t in inputs["observed_at"]]
    first = inputs["first_fix_hour_30d"]
    hours = [int(t.timestamp()) // 3600 for t in moments]
    return {
        "latitude": [float(v) for v in inputs["lat"]],
        "longitude": [float(v) for v in inputs["long"]],
        "month": [t.month for t in moments],
        "hours_since_first": [
            None if f is None or f != f else h - int(f) for h, f in zip(hours, first, strict=True)
        ],
    }


hurricane_24h_v1 = FeatureService(
    name="hurricane_24h_v1",
    features=[storm_track, storm_history, basin_activity, fix_context],
    description="Features of the hurricane model: P(hurricane strength 24 hours later).",
    owner=OWNER,
    tags={"model": "hurricane_24h"},
)
