"""The transform job: reads the validated zone, calls the pure transforms, writes the offline store.

The offline store keeps each table as one Parquet file per month of its rows' timestamps
(`offline/_partitions/<table>/<YYYY-MM>.parquet`); the file Feast reads (`offline/<table>.parquet`)
is their concatenation, rewritten after every run. A run over some changed source months
recomputes only the offline months those can change (from `reach` before each month to its end
plus `reach` and the widest window, `reach` being the longest chain of the domain's derivations),
reading the source months those need, so it writes the same bytes a full recompute would.
Static views and tables with no time are written whole.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

import polars as pl

from larder import EVENT_TIMESTAMP, Source, StaticView, View
from larder.domain import Domain
from pipelines import transform
from pipelines.errors import PipelineError
from pipelines.materialize import WATERMARK
from pipelines.storage import write_json, write_parquet

PARTITIONS = "_partitions"


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


def plan(
    available: list[str],
    changed: list[str] | None,
    horizon: timedelta,
    reach: timedelta,
) -> Plan:
    """Which offline months the changed source months can alter, and what to read for them."""
    unknown = sorted(set(changed or []) - set(available))
    if unknown:
        raise PipelineError(
            f"no validated rows of a monthly table for month(s) {', '.join(unknown)} (there "
            f"are {_span(available)}): ingest and validate them first"
        )
    changed = sorted(available if changed is None else changed)
    if not changed:
        raise PipelineError(
            "no validated rows of any monthly table to transform: ingest and validate some "
            "first (`python -m pipelines ingest`, then `validate`)"
        )
    outputs = sorted(
        {
            m
            for c in changed
            for m in months_overlapping(
                month_start(c) - reach, month_start(_next_month(c)) + reach + horizon
            )
        }
    )
    needed = months_overlapping(
        month_start(outputs[0]) - horizon - reach, month_start(_next_month(outputs[-1])) + reach
    )
    return Plan([m for m in available if m in needed], outputs, full=changed == available)


def _span(months: list[str]) -> str:
    return f"months {months[0]} to {months[-1]}" if months else "none"


def _source_months(zone: Path, table: str) -> list[str]:
    return sorted(p.name.removeprefix("month=") for p in (zone / table).glob("month=*"))


def event_months(domain: Domain, validated: Path) -> list[str]:
    """Months holding rows of any monthly source (one table's first rows of a month can land
    before another's)."""
    monthly = [s.name for s in domain.sources.values() if s.partition is not None]
    return sorted({m for name in monthly for m in _source_months(validated, name)} - {"unknown"})


def _scan(zone: Path, source: Source, months: list[str] | None) -> pl.LazyFrame:
    """A validated table: a monthly one's `months` (None: all of them), or the whole of one
    with no months."""
    if source.partition is None:
        files = sorted((zone / source.name / "month=all").glob("*.parquet"))
    elif months is None:
        files = sorted((zone / source.name).glob("month=*/*.parquet"))
    else:
        files = sorted(
            f for m in months for f in (zone / source.name / f"month={m}").glob("*.parquet")
        )
        if not files:  # no rows in the months read
            return pl.DataFrame(schema=dict(source.schema)).lazy()
    if not files:
        raise PipelineError(
            f"no validated {source.name} rows under {zone}: ingest and validate a "
            f"{source.name} file first"
        )
    return pl.scan_parquet(files)


def inputs(domain: Domain, validated: Path, months: list[str] | None) -> dict[str, pl.LazyFrame]:
    """Every source table: monthly ones restricted to `months` (None: all of them)."""
    return {name: _scan(validated, s, months) for name, s in domain.sources.items()}


def feature_tables(domain: Domain, validated: Path, months: list[str]) -> dict[str, Table]:
    """Every partitioned offline table, computed from the given source months."""
    tables = transform.derive(domain, inputs(domain, validated, months))
    task = domain.task
    out = {task.examples: Table(transform.examples(domain, tables), task.time, list(task.key))}
    for view in domain.views.values():
        if isinstance(view, StaticView):
            continue
        frame = _computed(view, partial(transform.view_table, view, tables))
        out[view.name] = Table(frame, EVENT_TIMESTAMP, [*view.entities, EVENT_TIMESTAMP])
    return out


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


def _combine(offline: Path, name: str, table: Table) -> int:
    files = sorted((offline / PARTITIONS / name).glob("*.parquet"))
    frame = pl.read_parquet(files) if files else table.frame.clear()
    frame = frame.sort(table.order).rechunk()
    write_parquet(frame, offline / f"{name}.parquet")
    return frame.height


def horizon(domain: Domain) -> timedelta:
    """How far a row's influence reaches forward: the widest window of any view."""
    return max([v.ttl for v in domain.windowed()], default=timedelta(0))


def reach(domain: Domain) -> timedelta:
    """How far an output row may lie from the source rows behind it: the reaches of a chain of
    derivations add up, and the longest chain counts."""
    derivations = domain.derivations
    chain: dict[str, timedelta] = {}

    def along(name: str) -> timedelta:
        if name not in chain:
            step = derivations[name]
            before = [along(i) for i in step.inputs if i in derivations]
            chain[name] = step.reach + max(before, default=timedelta(0))
        return chain[name]

    return max(map(along, derivations), default=timedelta(0))


def build_features(
    domain: Domain, validated: Path, offline: Path, months: list[str] | None = None
) -> dict[str, int]:
    """Validated tables -> offline store; `months`: only the source months that changed."""
    todo = plan(event_months(domain, validated), months, horizon(domain), reach(domain))
    counts = {}
    for name, table in feature_tables(domain, validated, todo.inputs).items():
        _write_months(offline, name, table, todo)
        counts[name] = _combine(offline, name, table)
    for view in domain.static():
        counts[view.name] = write_static(static_table(domain, validated, view), offline / view.name)
    known = known_times(domain, validated)
    marks = {"as_of": watermark(known), "labels_until": labels_until(domain, known)}
    write_json({k: v.isoformat() for k, v in marks.items()}, offline / WATERMARK)
    return counts


def static_table(domain: Domain, validated: Path, view: StaticView) -> pl.DataFrame:
    """A static view's table, from all the validated rows of its source."""
    if view.source in domain.sources:
        rows = _scan(validated, domain.sources[view.source], None)
    else:
        rows = transform.derive(domain, inputs(domain, validated, None))[view.source]
    return _computed(view, partial(transform.static, rows, view))


def _computed(view: View, compute: Callable[[], pl.LazyFrame]) -> pl.DataFrame:
    """A view's table, or a PipelineError naming the view (a feature column it names is not in
    its source, a mean over text, a `where` Polars refuses)."""
    try:
        return compute().collect()
    except (pl.exceptions.PolarsError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(
            f"view {view.name!r} on {view.source!r} cannot be computed: {type(exc).__name__}: {exc}"
        ) from exc


def write_static(frame: pl.DataFrame, stem: Path) -> int:
    write_parquet(frame, stem.with_suffix(".parquet"))
    return frame.height


def known_times(domain: Domain, validated: Path) -> dict[str, datetime]:
    """Each timed source's latest moment a validated row of it became known."""
    found = {s.name: known_until(domain, validated, s) for s in domain.timed_sources()}
    return {name: t for name, t in found.items() if t is not None}


def watermark(known: dict[str, datetime]) -> datetime:
    """Complete up to the moment every timed source has data for: the earliest, over those
    sources, of the latest moment one of their rows became known."""
    if not known:
        raise PipelineError("no timed source has validated rows: nothing says how far data goes")
    return min(known.values())


def labels_until(domain: Domain, known: dict[str, datetime]) -> datetime:
    """The latest moment by which everything the task's examples are made of was known: a
    label due later is not known yet (the rows it depends on may not have arrived)."""
    feeding = domain.derived_from(domain.task.examples)
    found = [t for name, t in known.items() if name in feeding]
    return min(found) if found else watermark(known)


def known_until(domain: Domain, validated: Path, source: Source) -> datetime | None:
    """The latest moment a validated row of `source` became known. With a `known_at`
    derivation, it is run on the source's last two months only: a row becomes known within
    the derivation's reach of its own month."""
    if source.known_at is None:
        column = str(source.time)
        return _scan(validated, source, None).select(pl.col(column).max()).collect().item()
    months = _source_months(validated, source.name)[-2:] if source.partition else None
    made = transform.derive(domain, inputs(domain, validated, months))[
        source.known_at.derivation.name
    ]
    return made.select(pl.col(source.known_at.column).max()).collect().item()


def backfill(
    domain: Domain, validated: Path, offline: Path, start: date, end: date
) -> dict[str, int]:
    """Recompute everything the source months overlapping [start, end) feed; idempotent."""
    begin = datetime.combine(start, datetime.min.time(), UTC)
    months = months_overlapping(begin, datetime.combine(end, datetime.min.time(), UTC))
    available = event_months(domain, validated)
    return build_features(domain, validated, offline, [m for m in months if m in available])


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
