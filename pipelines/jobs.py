"""The pipeline's jobs: each reads its inputs from a zone, calls pure transforms, writes outputs."""

import polars as pl

from pipelines import transform
from pipelines.errors import PipelineError
from pipelines.materialize import WATERMARK
from pipelines.settings import PipelineSettings
from pipelines.storage import scan_zone, write_json, write_parquet


def build_features(settings: PipelineSettings) -> dict[str, int]:
    """Validated tables -> offline store tables (one Parquet file per feature view)."""
    airports = scan_zone(settings.validated, "airports").collect()
    flights = scan_zone(settings.validated, "flights")
    weather = scan_zone(settings.validated, "weather")
    outcomes = transform.flight_outcomes(flights, airports).collect()
    unplaced = outcomes.filter(pl.col("known_at").is_null())["dest"].unique().sort().to_list()
    if unplaced:
        raise PipelineError(
            f"no time zone for destination(s) {', '.join(unplaced)}: add them to the airports "
            "table (or to pipelines.transform.MISSING_TZONES)"
        )
    tables = {
        "flights": outcomes.sort("scheduled_departure", "carrier", "flight"),
        "aircraft_history": transform.aircraft_history(outcomes.lazy()).collect(),
        "carrier_performance": transform.carrier_performance(outcomes.lazy()).collect(),
        "origin_weather": transform.origin_weather(weather).collect(),
    }
    for name, frame in tables.items():
        write_parquet(frame, settings.offline / f"{name}.parquet")
    # complete up to the moment every source has data for: the latest landing or observation
    as_of = min(outcomes["known_at"].max(), tables["origin_weather"]["event_timestamp"].max())
    write_json({"as_of": as_of.isoformat()}, settings.offline / WATERMARK)
    return {name: frame.height for name, frame in tables.items()}
