"""The checks between the raw and validated zones, for one batch of one source table.

A batch's rows break rules of five kinds, each giving one reason per broken rule (rule,
column, value), keyed by the row's index (`ROW`):
- the key must be unique (the first row of a repeated key is kept);
- the source's pandera contract (types, ranges, one-table rules); a break of the batch as a
  whole (a missing column) raises ContractError instead;
- cells that did not cast at ingest (kept as text in `_issues`);
- references (a value must exist in another validated table) and the domain's own row rules;
- timeliness: no `time` after the file's drop, none older than the source's `lateness`.

A row rule's failures built with `failures(..., warn=True)` quarantine nothing: they are the
batch's warnings, counted per rule in its quality report, and their rows stay valid.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import pandera.errors
import polars as pl

from larder import ROW, Source, failures
from larder.sources import SEVERITY, WARN
from pipelines.errors import ContractError, ReconcileError
from pipelines.readers import ISSUES

DROPPED_AT = "_dropped_at"
FILE = "_file"
MONTH = "_month"  # the partition a row was read from, when several are validated at once
EXTRA = (ISSUES, DROPPED_AT, FILE, MONTH)
REASON_COLUMNS = ("rule", "column", "value")


def empty_reasons() -> pl.DataFrame:
    return pl.DataFrame(schema={ROW: pl.UInt32, **{c: pl.String for c in REASON_COLUMNS}})


@dataclass(frozen=True)
class Validated:
    table: str
    valid: pl.DataFrame
    quarantined: pl.DataFrame  # the row's columns plus rule, column, value
    warnings: pl.DataFrame = field(default_factory=empty_reasons)  # the same, rows kept

    @property
    def rows_in(self) -> int:
        return self.valid.height + self.bad_rows

    @property
    def bad_rows(self) -> int:
        return self.quarantined[ROW].n_unique() if self.quarantined.height else 0

    def warned(self) -> dict[str, int]:
        """Rows per warning rule."""
        return dict(self.warnings.group_by("rule").len().sort("rule").iter_rows())


def duplicate_keys(frame: pl.DataFrame, source: Source) -> pl.DataFrame:
    """Every row whose key was already seen earlier in the batch, within its month (the first
    one is kept)."""
    scope = [*source.key, *([MONTH] if MONTH in frame.columns else [])]
    dupes = frame.filter(~pl.struct(scope).is_first_distinct())
    key = pl.concat_str([pl.col(k).cast(pl.String) for k in source.key], separator="|")
    return failures(dupes, "duplicate_key", ",".join(source.key), key)


def _table_break(source: Source, whole: pl.DataFrame) -> ContractError:
    problems = "; ".join(
        f"column {c!r}: {check} (found {case})"
        for c, check, case in whole.select("column", "check", "failure_case").iter_rows()
    )
    return ContractError(f"{source.name}: the batch breaks its contract: {problems}")


def contract_failures(frame: pl.DataFrame, source: Source) -> pl.DataFrame:
    """Row-level failures of the pandera model; a table-level one raises ContractError."""
    try:
        source.contract.validate(frame.drop(ROW, *EXTRA, strict=False), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        whole = cases.filter(pl.col("index").is_null())
        if whole.height:
            raise _table_break(source, whole) from None
        whole_row = pl.col("schema_context") == "DataFrameSchema"
        column = pl.col("check").replace_strict(dict(source.check_columns), default="*")
        return cases.select(
            pl.col("index").cast(pl.UInt32).alias(ROW),
            rule=pl.col("check"),
            column=pl.when(whole_row).then(column).otherwise(pl.col("column")),
            value=pl.col("failure_case"),
        )
    return empty_reasons()


def issue_failures(frame: pl.DataFrame) -> pl.DataFrame:
    """Cells that did not cast at ingest (their text is kept in `_issues`)."""
    if ISSUES not in frame.columns:
        return empty_reasons()
    issues = frame.select(ROW, ISSUES).explode(ISSUES).drop_nulls(ISSUES)
    return issues.unnest(ISSUES).select(ROW, *REASON_COLUMNS)


def reference_failures(
    frame: pl.DataFrame, source: Source, tables: Mapping[str, pl.DataFrame]
) -> list[pl.DataFrame]:
    found = []
    for ref in source.references:
        if ref.table not in tables:
            raise ContractError(
                f"{source.name}: no validated {ref.table} table to check {ref.column} against: "
                f"drop a {ref.table} file and ingest it"
            )
        known = tables[ref.table][ref.other]
        missing = frame.filter(
            pl.col(ref.column).is_not_null() & ~pl.col(ref.column).is_in(known.implode())
        )
        rule = f"exists_in({ref.table}.{ref.other})"
        found.append(failures(missing, rule, ref.column, pl.col(ref.column)))
    return found


def timeliness_failures(frame: pl.DataFrame, source: Source) -> list[pl.DataFrame]:
    """No event after its file was dropped, none older than `lateness` before it."""
    if source.time is None or DROPPED_AT not in frame.columns:
        return []
    event = pl.col(source.time)
    found = [
        failures(frame.filter(event > pl.col(DROPPED_AT)), "not_after_drop", source.time, event)
    ]
    if source.lateness is not None:
        oldest = pl.col(DROPPED_AT) - source.lateness
        rule = f"within({_span(source.lateness)})"
        found.append(failures(frame.filter(event < oldest), rule, source.time, event))
    return found


def _span(delta: timedelta) -> str:
    """A lateness as a rule's name shows it: 2d, 12h, 90m, 45s."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def rule_failures(
    frame: pl.DataFrame, source: Source, tables: Mapping[str, pl.DataFrame]
) -> list[pl.DataFrame]:
    """The domain's own row rules, each given the tables the source references."""
    referenced = {r.table: tables[r.table] for r in source.references if r.table in tables}
    return [found for rule in source.rules for found in rule(frame, referenced)]


def validate_frame(
    frame: pl.DataFrame, source: Source, tables: Mapping[str, pl.DataFrame]
) -> Validated:
    """Split one batch into valid rows and quarantined rows (one per rule broken), and list
    the warnings of the valid and the quarantined rows alike."""
    frame = frame.with_row_index(ROW)
    found, warned = _by_severity(
        [
            duplicate_keys(frame, source),
            contract_failures(frame, source),
            issue_failures(frame),
            *reference_failures(frame, source, tables),
            *rule_failures(frame, source, tables),
            *timeliness_failures(frame, source),
        ]
    )
    rows = frame.drop(ISSUES, strict=False)
    bad = found.join(rows, on=ROW, how="inner").sort(ROW)
    valid = frame.join(found.select(ROW).unique(), on=ROW, how="anti")
    warnings = warned.join(rows, on=ROW, how="inner").sort(ROW)
    result = Validated(
        source.name, valid.drop(ROW, ISSUES, DROPPED_AT, strict=False), bad, warnings
    )
    if result.rows_in != frame.height:
        raise ReconcileError(
            f"{source.name}: {frame.height} rows in but {result.valid.height} validated + "
            f"{result.bad_rows} quarantined"
        )
    return result


def _by_severity(found: list[pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The reasons that quarantine their rows, and the warnings."""
    reasons = pl.concat([empty_reasons(), *found], how="diagonal")
    if SEVERITY not in reasons.columns:
        return reasons, empty_reasons()
    warn = pl.col(SEVERITY).fill_null("") == WARN
    return reasons.filter(~warn).drop(SEVERITY), reasons.filter(warn).drop(SEVERITY)


def share_breach(result: Validated, max_bad_share: float) -> str | None:
    """Why a batch is rejected whole (its share of bad rows passes the threshold), or None."""
    rows_in, bad = result.rows_in, result.bad_rows
    if not rows_in or bad / rows_in <= max_bad_share:
        return None
    return too_many_bad(bad, rows_in, max_bad_share, result.quarantined)


def too_many_bad(bad: int, rows_in: int, max_bad_share: float, reasons: pl.DataFrame) -> str:
    top = reasons.group_by("rule").len().sort("len", descending=True).head(3)
    rules = ", ".join(f"{r} ({n})" for r, n in top.iter_rows())
    return (
        f"{bad} of {rows_in} rows break the contract ({bad / rows_in:.1%} > the "
        f"{max_bad_share:.1%} allowed); most broken rules: {rules}"
    )


def by_month(result: Validated) -> dict[str, Validated]:
    """A validation of several months at once (rows tagged with `MONTH`), month by month."""
    frames = (result.valid, result.quarantined, result.warnings)
    parts = [f.partition_by(MONTH, as_dict=True) for f in frames]
    months = sorted({k[0] for k in [*parts[0], *parts[1]]})

    def month(m: object) -> list[pl.DataFrame]:
        return [p.get((m,), f.clear()).drop(MONTH) for p, f in zip(parts, frames, strict=True)]

    return {str(m): Validated(result.table, *month(m)) for m in months}
