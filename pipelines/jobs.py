"""The pipeline's jobs: each reads its inputs from a zone, calls pure transforms, writes outputs.

The offline store keeps each table as one Parquet file per month of its rows' timestamps
(`offline/_partitions/<table>/<YYYY-MM>.parquet`); the file Feast reads (`offline/<table>.parquet`)
is their concatenation, rewritten after every run. A run over some changed source months
recomputes only the offline months those can change (from a day before each month to its end
plus the widest window), reading the source months those need, so it writes the same bytes a
full recompute would.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines import transform, windows
from pipelines.errors import PipelineError
from pipelines.materialize import WATERMARK
from pipelines.settings import PipelineSettings
from pipelines.storage import write_json, write_parquet

PARTITIONS = "_partitions"
# A source month's rows are stamped within 2 days of it: local months vs UTC, early take-offs
# just before midnight, landings up to a day after a late departure.
SLACK = timedelta(days=2)
FLIGHT_COLUMNS = [
    "carrier", "flight", "tailnum", "origin", "dest", "distance", "scheduled_departure",
    "prediction_time", "known_at", "arr_delay", "cancelled", "diverted", "late",
]  # fmt: skip


@dataclass(frozen=True)
class Table:
    frame: pl.DataFrame
    time: str  # the column whose month places a row in a partition
    order: list[str]  # the sort of the file Feast reads (a unique key)


@dataclass(frozen=True)
class Plan:
    inputs: list[str]  # source months to read
    outputs: list[str]  # offline months to rewrite
    full: bool  # also drop offline months outside `outputs`


def month_start(month: str) -> datetime:
    return datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)


def _next_month(month: str) -> str:
    start = month_start(month)
    return f"{start.year + start.month // 12}-{start.month % 12 + 1:02d}"


def months_overlapping(start: datetime, end: datetime) -> list[str]:
    """The months (YYYY-MM) that overlap [start, end)."""
    month, months = start.strftime("%Y-%m"), []
    while month_start(month) < end:
        months.append(month)
        month = _next_month(month)
    return months


def plan(available: list[str], changed: list[str] | None, horizon: timedelta) -> Plan:
    """Which offline months the changed source months can alter, and what to read for them."""
    unknown = sorted(set(changed or []) - set(available))
    if unknown:
        raise PipelineError(
            f"no validated flights or weather for month(s) {', '.join(unknown)}: ingest and "
            "validate them first (`python -m pipelines ingest`, then `validate`)"
        )
    changed = sorted(available if changed is None else changed)
    if not changed:
        raise PipelineError("no source months to transform: ingest and validate some first")
    reach = {
        m
        for c in changed
        for m in months_overlapping(
            month_start(c) - SLACK, month_start(_next_month(c)) + SLACK + horizon
        )
    }
    outputs = sorted(reach)
    needed = months_overlapping(
        month_start(outputs[0]) - horizon - SLACK, month_start(_next_month(outputs[-1])) + SLACK
    )
    return Plan([m for m in available if m in needed], outputs, full=changed == available)


def _source_months(zone: Path, table: str) -> list[str]:
    return sorted(p.name.removeprefix("month=") for p in (zone / table).glob("month=*"))


def _event_months(zone: Path) -> list[str]:
    """Months holding flights or weather: a month's first weather can land before its flights."""
    return sorted(set(_source_months(zone, "flights")) | set(_source_months(zone, "weather")))


def _scan(zone: Path, table: str, months: list[str] | None = None) -> pl.LazyFrame:
    folders = ["month=all"] if months is None else [f"month={m}" for m in months]
    files = sorted(f for d in folders for f in (zone / table / d).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no {table} data under {zone}: run the earlier stages first")
    return pl.scan_parquet(files)


def feature_tables(settings: PipelineSettings, months: list[str], decl) -> dict[str, Table]:
    """Every partitioned offline table, computed from the given source months."""
    airports = _scan(settings.validated, "airports").collect()
    flights = _scan(settings.validated, "flights", months)
    outcomes = transform.flight_outcomes(flights, airports).collect()
    unplaced = outcomes.filter(pl.col("known_at").is_null())["dest"].unique().sort().to_list()
    if unplaced:
        raise PipelineError(
            f"no time zone for destination(s) {', '.join(unplaced)}: add them to the airports "
            "table (or to pipelines.transform.MISSING_TZONES)"
        )
    events = transform.event_tables(outcomes.lazy())
    weather = _scan(settings.validated, "weather", months)
    tables = {
        "flights": Table(
            outcomes.select(FLIGHT_COLUMNS),
            "scheduled_departure",
            ["scheduled_departure", "carrier", "flight"],
        ),
        "origin_weather": Table(
            transform.origin_weather(weather, decl.WEATHER_FEATURES).collect(),
            "event_timestamp",
            ["origin", "event_timestamp"],
        ),
    }
    for view in decl.WINDOWED:
        frame = windows.compute(events[view.source], view).collect()
        tables[view.name] = Table(frame, "event_timestamp", [*view.entities, "event_timestamp"])
    return tables


def _write_months(offline: Path, name: str, table: Table, plan: Plan) -> None:
    folder = offline / PARTITIONS / name
    month = table.frame.select(pl.col(table.time).dt.strftime("%Y-%m")).to_series()
    if plan.full:
        stray = sorted(set(month.unique().to_list()) - set(plan.outputs))
        if stray:
            raise PipelineError(f"{name} has rows in months {stray} outside the plan {plan}")
        for path in folder.glob("*.parquet"):
            if path.stem not in plan.outputs:
                path.unlink()
    for m in plan.outputs:
        rows = table.frame.filter(month == m).sort(table.order).rechunk()
        path = folder / f"{m}.parquet"
        if rows.height:
            write_parquet(rows, path)
        elif path.exists():
            path.unlink()


def _combine(offline: Path, name: str, order: list[str]) -> int:
    files = sorted((offline / PARTITIONS / name).glob("*.parquet"))
    frame = pl.read_parquet(files).sort(order).rechunk()
    write_parquet(frame, offline / f"{name}.parquet")
    return frame.height


def build_features(settings: PipelineSettings, months: list[str] | None = None) -> dict[str, int]:
    """Validated tables -> offline store; `months`: only the source months that changed."""
    decl = windows.load_declarations(settings.feature_repo)
    horizon = max(view.ttl for view in decl.WINDOWED)
    todo = plan(_event_months(settings.validated), months, horizon)
    tables = feature_tables(settings, todo.inputs, decl)
    counts = {}
    for name, table in tables.items():
        _write_months(settings.offline, name, table, todo)
        counts[name] = _combine(settings.offline, name, table.order)
    for view in decl.STATIC:
        frame = windows.static(_scan(settings.validated, view.source), view, decl.STATIC_SINCE)
        counts[view.name] = frame.collect().pipe(write_static, settings.offline / view.name)
    _write_watermark(settings.offline)
    return counts


def write_static(frame: pl.DataFrame, stem: Path) -> int:
    write_parquet(frame, stem.with_suffix(".parquet"))
    return frame.height


def _write_watermark(offline: Path) -> None:
    """Complete up to the moment every source has data for: the latest landing or observation."""
    landed = pl.scan_parquet(offline / "flights.parquet").select(pl.col("known_at").max())
    observed = pl.scan_parquet(offline / "origin_weather.parquet").select(
        pl.col("event_timestamp").max()
    )
    as_of = min(landed.collect().item(), observed.collect().item())
    write_json({"as_of": as_of.isoformat()}, offline / WATERMARK)


def backfill(settings: PipelineSettings, start: date, end: date) -> dict[str, int]:
    """Recompute everything the source months overlapping [start, end) feed; idempotent."""
    begin = datetime.combine(start, datetime.min.time(), UTC)
    months = months_overlapping(begin, datetime.combine(end, datetime.min.time(), UTC))
    available = _event_months(settings.validated)
    return build_features(settings, [m for m in months if m in available])


def parse_months(text: str) -> list[str]:
    """`2013-07,2013-08` -> ['2013-07', '2013-08'] (for the command line)."""
    months = [m.strip() for m in text.split(",") if m.strip()]
    for m in months:
        month_start(m)  # raises ValueError on anything but YYYY-MM
    return months


def parse_day(text: str) -> date:
    """`2013-07-01` -> a date (for the command line)."""
    return date.fromisoformat(text)


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{table}: {rows} rows" for table, rows in counts.items())
