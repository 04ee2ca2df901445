"""Validate: the raw versions in force -> validated rows and quarantined rows with their reasons.

Incremental: a month is validated again only when the versions in force for it changed (see
`pipelines.manifest`), when a table it references changed, or when the contracts or thresholds
changed (their fingerprint is kept in `validated/_state.json`); `full=True` redoes everything.
The months rewritten are listed in `validated/_changed.json` for the later stages.

Per file (batch): rows in = rows validated + rows quarantined, or the run fails. A file whose
share of bad rows passes `max_bad_share` is rejected whole: the manifest records it, the months
keep the previous version in force, and the run ends with a ContractError naming the file once
the other files are written. A table-level break (a missing column) rejects the batch too.
Each batch gets a quality report under `data/reports/<table>/<version>/`.
"""

import hashlib
import inspect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandera.errors
import polars as pl

from pipelines import contracts, manifest, quality
from pipelines.contracts import CHECK_COLUMNS, CONTRACTS, DROPPED_AT, ROW, reasons, row_rules
from pipelines.errors import ContractError, ReconcileError
from pipelines.readers import ISSUES
from pipelines.settings import PipelineSettings
from pipelines.storage import read_json, scan_zone, write_json, write_parquet
from pipelines.tables import TABLES, Table

FILE = "_file"
REASON_COLUMNS = ("rule", "column", "value")
HORIZON_DAYS = PipelineSettings.model_fields["horizon_days"].default
EXTRA = (ISSUES, DROPPED_AT, FILE)
DEPENDS = {name: {o for _, o, _ in contracts.REFERENCES.get(name, [])} for name in TABLES}


@dataclass(frozen=True)
class Validated:
    table: str
    valid: pl.DataFrame
    quarantined: pl.DataFrame  # the row's columns plus rule, column, value

    @property
    def rows_in(self) -> int:
        return self.valid.height + self.bad_rows

    @property
    def bad_rows(self) -> int:
        return self.quarantined[ROW].n_unique() if self.quarantined.height else 0


def _empty_reasons() -> pl.DataFrame:
    return pl.DataFrame(schema={ROW: pl.UInt32, **{c: pl.String for c in REASON_COLUMNS}})


def duplicate_keys(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Every row whose key was already seen earlier in the batch (the first one is kept)."""
    dupes = frame.filter(~pl.struct(list(table.key)).is_first_distinct())
    key = pl.concat_str([pl.col(k).cast(pl.String) for k in table.key], separator="|")
    return reasons(dupes, "duplicate_key", ",".join(table.key), key)


def _table_break(table: Table, whole: pl.DataFrame) -> ContractError:
    problems = "; ".join(
        f"column {c!r}: {check} (found {case})"
        for c, check, case in whole.select("column", "check", "failure_case").iter_rows()
    )
    return ContractError(f"{table.name}: the batch breaks its contract: {problems}")


def contract_failures(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Row-level failures of the pandera model; a table-level one raises ContractError."""
    try:
        CONTRACTS[table.name].validate(frame.drop(ROW, *EXTRA, strict=False), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        whole = cases.filter(pl.col("index").is_null())
        if whole.height:
            raise _table_break(table, whole) from None
        whole_row = pl.col("schema_context") == "DataFrameSchema"
        column = pl.col("check").replace_strict(CHECK_COLUMNS, default="*")
        return cases.select(
            pl.col("index").cast(pl.UInt32).alias(ROW),
            rule=pl.col("check"),
            column=pl.when(whole_row).then(column).otherwise(pl.col("column")),
            value=pl.col("failure_case"),
        )
    return _empty_reasons()


def issue_failures(frame: pl.DataFrame) -> pl.DataFrame:
    """Cells that did not cast at ingest (their text is kept in `_issues`)."""
    if ISSUES not in frame.columns:
        return _empty_reasons()
    issues = frame.select(ROW, ISSUES).explode(ISSUES).drop_nulls(ISSUES)
    return issues.unnest(ISSUES).select(ROW, *REASON_COLUMNS)


def validate_frame(
    frame: pl.DataFrame,
    table: Table,
    references: dict[str, pl.DataFrame],
    horizon_days: int = HORIZON_DAYS,
) -> Validated:
    """Split one batch into valid rows and quarantined rows (one per rule broken)."""
    frame = frame.with_row_index(ROW)
    found = pl.concat(
        [
            duplicate_keys(frame, table),
            contract_failures(frame, table),
            issue_failures(frame),
            *row_rules(frame, table.name, references, horizon_days),
        ]
    )
    bad = found.join(frame.drop(ISSUES, strict=False), on=ROW, how="inner").sort(ROW)
    valid = frame.join(found.select(ROW).unique(), on=ROW, how="anti")
    result = Validated(table.name, valid.drop(ROW, ISSUES, DROPPED_AT, strict=False), bad)
    if result.rows_in != frame.height:
        raise ReconcileError(
            f"{table.name}: {frame.height} rows in but {result.valid.height} validated + "
            f"{result.bad_rows} quarantined"
        )
    return result


def check_share(result: Validated, max_bad_share: float) -> None:
    """Raise ContractError when the batch's share of bad rows passes the threshold."""
    reason = share_breach(result, max_bad_share)
    if reason:
        raise ContractError(f"{result.table}: {reason}")


def share_breach(result: Validated, max_bad_share: float) -> str | None:
    rows_in, bad = result.rows_in, result.bad_rows
    if not rows_in or bad / rows_in <= max_bad_share:
        return None
    top = result.quarantined.group_by("rule").len().sort("len", descending=True).head(3)
    rules = ", ".join(f"{r} ({n})" for r, n in top.iter_rows())
    return (
        f"{bad} of {rows_in} rows break the contract ({bad / rows_in:.1%} > the "
        f"{max_bad_share:.1%} allowed); most broken rules: {rules}"
    )


# ---- the run: which months, which files, what is written ------------------------------------


def read_month(raw: Path, table: Table, entries: list[manifest.Entry], month: str) -> pl.DataFrame:
    """The rows of the versions in force for one month, each tagged with its file and drop time."""
    return pl.concat([_read_version(raw, table, e, month) for e in entries], how="diagonal_relaxed")


def _read_version(raw: Path, table: Table, entry: manifest.Entry, month: str) -> pl.DataFrame:
    path = raw / table.name / f"month={month}" / f"{manifest.short(entry)}.parquet"
    frame = pl.read_parquet(path)
    expected = manifest.months(entry).get(month)
    if expected is not None and frame.height != expected:
        raise ReconcileError(
            f"{path}: the manifest says {expected} rows, the file has {frame.height}"
        )
    dropped = datetime.fromisoformat(entry["ingested_at"]).astimezone(UTC)
    return frame.with_columns(
        pl.lit(manifest.short(entry)).alias(FILE),
        pl.lit(dropped, dtype=pl.Datetime("us", "UTC")).alias(DROPPED_AT),
    )


@dataclass
class TableRun:
    """One table's validation in this run: results per month, files rejected with their reports."""

    table: Table
    months: dict[str, Validated] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # version -> reason
    reports: dict[str, dict] = field(default_factory=dict)  # version -> quality report

    def per_file(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for result in self.months.values():
            bad = result.quarantined.group_by(FILE).agg(pl.col(ROW).n_unique())
            for kind, frame in (
                ("validated", result.valid.group_by(FILE).len()),
                ("quarantined", bad),
            ):
                for version, n in frame.iter_rows():
                    counts.setdefault(version, {"validated": 0, "quarantined": 0})[kind] += n
        return counts

    def file_rows(self, version: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """One file's rows (valid and quarantined) and its reasons, over the months validated."""
        columns, valid, bad = list(self.table.schema), [], []
        for month, result in self.months.items():
            valid.append(result.valid.filter(pl.col(FILE) == version).select(columns))
            mine = result.quarantined.filter(pl.col(FILE) == version)
            bad.append(
                mine.with_columns(pl.format("{}#{}", pl.lit(month), pl.col(ROW)).alias("_key"))
            )
        quarantined = pl.concat(bad, how="diagonal_relaxed")
        rows = pl.concat([*valid, quarantined.unique("_key").select(columns)])
        why = quarantined.select(pl.col("_key").alias(ROW), *REASON_COLUMNS)
        return rows, why


@dataclass
class Policy:
    """What a run validates against: the thresholds, the references, and their fingerprint."""

    max_bad_share: float
    horizon_days: int
    references: dict[str, pl.DataFrame]

    @cached_property
    def fingerprint(self) -> str:
        """Changes when the contracts or thresholds change: every month is then done again."""
        source = inspect.getsource(contracts) + f"{self.max_bad_share}|{self.horizon_days}"
        return hashlib.sha256(source.encode()).hexdigest()[:16]


def _months_to_do(in_force: dict, done: dict, everything: bool) -> list[str]:
    versions = {m: [manifest.short(e) for e in es] for m, es in in_force.items()}
    return [m for m, v in versions.items() if everything or v != done.get(m)]


def run_table(
    table: Table, raw: Path, entries: list, done: dict, everything: bool, policy: Policy
) -> TableRun:
    """Validate the months to do; reject the files past the threshold and redo without them."""
    run = TableRun(table)
    while True:
        in_force = manifest.in_force(entries, table.name, policy.fingerprint)
        run.months = {
            m: validate_frame(
                read_month(raw, table, in_force[m], m),
                table,
                policy.references,
                policy.horizon_days,
            )
            for m in _months_to_do(in_force, done, everything)
        }
        reconcile(run, entries)
        breaches = _breaches(run, policy.max_bad_share)
        if not breaches:
            return run
        for version, reason in breaches.items():
            entry = _by_version(entries, table)[version]
            run.rejected[version] = reason
            run.reports[version] = report(run, entry, version, reason)
            _record(entry, policy.fingerprint, "rejected", reason=reason)


def _by_version(entries: list, table: Table) -> dict[str, dict]:
    return {manifest.short(e): e for e in entries if e["table"] == table.name}


def _breaches(run: TableRun, max_bad_share: float) -> dict[str, str]:
    found = {}
    for version, n in run.per_file().items():
        rows_in = n["validated"] + n["quarantined"]
        if rows_in and n["quarantined"] / rows_in > max_bad_share:
            top = _top_rules(run, version)
            found[version] = (
                f"{n['quarantined']} of {rows_in} rows break the contract "
                f"({n['quarantined'] / rows_in:.1%} > the {max_bad_share:.1%} allowed); "
                f"most broken rules: {top}"
            )
    return found


def _top_rules(run: TableRun, version: str) -> str:
    _, why = run.file_rows(version)
    top = why.group_by("rule").len().sort("len", descending=True).head(3)
    return ", ".join(f"{r} ({n})" for r, n in top.iter_rows())


def _record(entry: dict, fp: str, outcome: str, **extra: Any) -> None:
    now = datetime.now(UTC).isoformat()
    entry["validation"] = {"outcome": outcome, "fingerprint": fp, "at": now, **extra}


def reconcile(run: TableRun, entries: list) -> None:
    """Per file: the rows its manifest entry gives for the months done = validated + quarantined."""
    for version, n in run.per_file().items():
        entry = _by_version(entries, run.table)[version]
        rows = manifest.months(entry)
        expected = sum(rows.get(m) or 0 for m in run.months)
        if None not in rows.values() and expected != n["validated"] + n["quarantined"]:
            raise ReconcileError(
                f"{entry['file']} ({version}): {expected} rows in but {n['validated']} "
                f"validated + {n['quarantined']} quarantined"
            )


def report(run: TableRun, entry: dict, version: str, reason: str = "") -> dict:
    """The quality report of one file over the months validated in this run."""
    n = run.per_file()[version]
    rows, why = run.file_rows(version)
    rows_in = n["validated"] + n["quarantined"]
    header = {
        "table": run.table.name,
        "file": entry["file"],
        "version": version,
        "ingested_at": entry["ingested_at"],
        "outcome": "rejected" if reason else "validated",
        "reason": reason,
        "rows_in": rows_in,
        **n,
        "bad_share": n["quarantined"] / rows_in if rows_in else 0.0,
    }
    return quality.build(rows, why, header, datetime.fromisoformat(entry["ingested_at"]))


# ---- writing: only once every table passed ----------------------------------------------------


def _write_month(frame: pl.DataFrame, path: Path, keep_empty: bool) -> None:
    if frame.is_empty() and not keep_empty:
        path.unlink(missing_ok=True)  # e.g. the quarantine of an older version
        return
    write_parquet(frame, path)


def write_table(run: TableRun, validated: Path, quarantine: Path) -> None:
    name = run.table.name
    for month, result in run.months.items():
        part = Path(name) / f"month={month}" / "part.parquet"
        if month != "unknown":  # rows of no month were all quarantined
            _write_month(result.valid.select(list(run.table.schema)), validated / part, True)
        bad = result.quarantined.drop(ROW, DROPPED_AT, strict=False).rename(
            {FILE: "source_version"}
        )
        _write_month(bad, quarantine / part, keep_empty=False)


def reference_frame(run: TableRun, validated: Path) -> pl.DataFrame | None:
    """The whole validated table after this run, for the tables that reference it."""
    if run.months:
        return pl.concat([r.valid for r in run.months.values()]).select(list(run.table.schema))
    if (validated / run.table.name).exists():
        return scan_zone(validated, run.table.name).collect()
    return None


@dataclass
class ValidationRun:
    tables: dict[str, TableRun]
    reports: dict[str, str]  # "<table>/<file>" -> HTML report
    changed: dict[str, list[str]]

    def summary(self) -> dict[str, dict]:
        out = {}
        for name, run in self.tables.items():
            valid = sum(r.valid.height for r in run.months.values())
            rows_in = sum(r.rows_in for r in run.months.values())
            rules = [r.quarantined.group_by("rule").len() for r in run.months.values()]
            counts = pl.concat(rules).group_by("rule").agg(pl.sum("len")) if rules else None
            out[name] = {
                "rows_in": rows_in,
                "validated": valid,
                "quarantined": rows_in - valid,
                "months": sorted(run.months),
                "rejected": run.rejected,
                "rules": dict(counts.sort("rule").iter_rows()) if counts is not None else {},
            }
        return out


def validate(
    raw: Path,
    validated: Path,
    quarantine: Path,
    max_bad_share: float,
    horizon_days: int = HORIZON_DAYS,
    reports: Path | None = None,
    full: bool = False,
) -> ValidationRun:
    """Validate what changed in the raw zone (reference tables first), then write both zones,
    the reports, the manifest's validation records, `_changed.json` and `_state.json`."""
    reports = reports or validated.parent / "reports"
    entries = manifest.load(raw)
    state = read_json(validated / "_state.json", {})
    policy = Policy(max_bad_share, horizon_days, {})
    everything = full or state.get("fingerprint") != policy.fingerprint
    runs: dict[str, TableRun] = {}
    for table in TABLES.values():
        redo = everything or any(runs[d].months for d in DEPENDS[table.name])
        done = state.get("tables", {}).get(table.name, {})
        runs[table.name] = run_table(table, raw, entries, done, redo, policy)
        ref = reference_frame(runs[table.name], validated)
        if ref is not None:
            policy.references[table.name] = ref
    return _finish(runs, entries, state, policy, raw, validated, quarantine, reports)


def _finish(runs, entries, state, policy, raw, validated, quarantine, reports) -> ValidationRun:
    pages, changed = {}, {}
    tables_state = state.get("tables", {})
    for name, run in runs.items():
        write_table(run, validated, quarantine)
        in_force = manifest.in_force(entries, name, policy.fingerprint)
        for month in run.months:
            tables_state.setdefault(name, {})[month] = [manifest.short(e) for e in in_force[month]]
        for version, entry in _by_version(entries, run.table).items():
            if version in run.rejected:
                built = run.reports[version]
            elif version in run.per_file():
                built = report(run, entry, version)
                _record(entry, policy.fingerprint, "validated", **run.per_file()[version])
            else:
                continue
            page = quality.write(built, reports / name / version)
            entry["validation"]["report"] = str(page)
            pages[f"{name}/{entry['file']}@{version}"] = str(page)
        changed[name] = sorted(run.months)
    now = datetime.now(UTC).isoformat()
    result = ValidationRun(runs, pages, changed)
    write_json(result.summary(), validated / "_summary.json")
    write_json({"validated_at": now, "months": changed}, validated / "_changed.json")
    write_json(
        {"fingerprint": policy.fingerprint, "tables": tables_state}, validated / "_state.json"
    )
    manifest.save(entries, raw)
    rejected = [f"{n}/{v}: {why}" for n, r in runs.items() for v, why in r.rejected.items()]
    if rejected:
        raise ContractError(
            "batch(es) rejected, the months keep their previous version: "
            + "; ".join(rejected)
            + f" (reports under {reports}; fix the file and drop it again under the same name)"
        )
    return result
