"""The storms domain's views (see larder.views): the storm's latest fix and how it changed,
its own past over windows, and the basin's activity."""

from datetime import timedelta

from larder import ObservedView, WindowedView, count, distinct, maximum, minimum, share

STORM = ("name", "year")

STORM_TRACK = ObservedView(
    name="storm_track",
    entities=STORM,
    source="storm_tracks",
    timestamp="observed_at",
    columns={
        "wind": ("wind", "int64"),
        "pressure": ("pressure", "int64"),
        **{f"wind_change_{h}h": (f"wind_change_{h}h", "int64") for h in (6, 12, 24)},
        **{f"pressure_change_{h}h": (f"pressure_change_{h}h", "int64") for h in (6, 12, 24)},
    },
    ttl=timedelta(hours=12),
    description=(
        "The storm's latest fix (maximum sustained wind in knots, central pressure in mbar) "
        "and how much each changed since its fix 6, 12 and 24 hours before (null when the "
        "storm is younger); stale after 12 hours."
    ),
    tags={"entity": "storm", "cadence": "six-hourly"},
)
STORM_HISTORY = WindowedView(
    name="storm_history",
    entities=STORM,
    source="storm_tracks",
    timestamp="observed_at",
    windows=("24h", "30d"),
    aggregations=(
        maximum("max_wind", "wind"),
        minimum("min_pressure", "pressure"),
        count("fixes"),
        share("hurricane_share", "hurricane = 1"),
    ),
    description=(
        "The storm's own fixes in the last 24 hours and 30 days (no Atlantic storm has lasted "
        "longer: so far, over its life): strongest wind, lowest pressure, how many fixes, the "
        "share at hurricane strength."
    ),
    tags={"entity": "storm", "windows": "24h,30d"},
)
STORM_AGE = WindowedView(
    name="storm_age",
    entities=STORM,
    source="storm_tracks",
    timestamp="observed_at",
    windows=("30d",),
    aggregations=(minimum("first_fix_hour", "fix_hour"),),
    description="The hour (since 1970, UTC) of the storm's first fix within 30 days.",
    tags={"entity": "storm", "windows": "30d"},
)
BASIN_ACTIVITY = WindowedView(
    name="basin_activity",
    entities=("basin",),
    source="storm_tracks",
    timestamp="observed_at",
    windows=("7d",),
    aggregations=(
        distinct("active_storms", "storm"),
        count("basin_fixes"),
        share("basin_hurricane_share", "hurricane = 1"),
    ),
    description=(
        "The basin's last 7 days: how many storms were observed, how many fixes, and the "
        "share of fixes at hurricane strength."
    ),
    tags={"entity": "basin", "windows": "7d"},
)
