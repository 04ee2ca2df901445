"""Validate: the raw versions in force -> validated rows and quarantined rows with their reasons.

Incremental: a month is validated again only when the versions in force for it changed (see
`pipelines.manifest`), when a table it references changed, or when its table's contract
changed (its fingerprint, `pipelines.fingerprint`, is kept in `validated/_state.json`);
`full=True` redoes everything. The months rewritten are listed in `validated/_changed.json`
for the later stages.

Per file (batch): rows in = rows validated + rows quarantined, or the run fails. A file whose
share of bad rows passes `max_bad_share` is rejected whole: the manifest records it, the months
keep the previous version in force, and the run ends with a ContractError naming the file once
the other files are written. A table-level break (a missing column) rejects the batch too.
Each batch gets a quality report under `data/reports/<table>/<version>/`; the rows breaking a
rule declared as a warning are counted there (and in the run's summary), and kept.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from larder import ROW, Source
from pipelines import manifest, quality
from pipelines.checks import (
    DROPPED_AT,
    FILE,
    MONTH,
    REASON_COLUMNS,
    Validated,
    by_month,
    too_many_bad,
    validate_frame,
)
from pipelines.errors import ContractError, ReconcileError
from pipelines.fingerprint import fingerprint
from pipelines.readers import UNKNOWN
from pipelines.storage import read_json, scan_zone, write_json, write_parquet


def read_month(
    raw: Path, source: Source, entries: list[manifest.Entry], month: str
) -> pl.DataFrame:
    """The rows of the versions in force for one month, each tagged with its file and drop time."""
    return pl.concat(
        [_read_version(raw, source, e, month) for e in entries], how="diagonal_relaxed"
    )


def _read_version(raw: Path, source: Source, entry: manifest.Entry, month: str) -> pl.DataFrame:
    path = raw / source.name / f"month={month}" / f"{manifest.short(entry)}.parquet"
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

    source: Source
    fingerprint: str
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
        columns, valid, bad = list(self.source.schema), [], []
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

    def warned(self, version: str | None = None) -> dict[str, int]:
        """Rows per warning rule, of one file (None: of all), over the months validated."""
        found = [r.warnings for r in self.months.values()]
        if version is not None:
            found = [w.filter(pl.col(FILE) == version) for w in found]
        rules = [w.select("rule") for w in found] or [pl.DataFrame(schema={"rule": pl.String})]
        return dict(pl.concat(rules).group_by("rule").len().sort("rule").iter_rows())


def _months_to_do(in_force: dict, done: dict, everything: bool) -> list[str]:
    versions = {m: [manifest.short(e) for e in es] for m, es in in_force.items()}
    return [m for m, v in versions.items() if everything or v != done.get(m)]


def run_table(
    source: Source,
    raw: Path,
    entries: list[manifest.Entry],
    done: dict,
    everything: bool,
    tables: Mapping[str, pl.DataFrame],
    max_bad_share: float,
) -> TableRun:
    """Validate the months to do; the files past the threshold are rejected and their months
    validated again without them (each round rejects at least one file, so it ends)."""
    fp = fingerprint(source, max_bad_share)
    mine = _by_version(entries, source)
    rejected: dict[str, str] = {}
    reports: dict[str, dict] = {}
    for _ in range(len(mine) + 1):
        in_force = manifest.in_force(entries, source.name, fp, rejected.keys())
        todo = _months_to_do(in_force, done, everything)
        run = TableRun(source, fp, _validated(raw, source, in_force, todo, tables))
        run.rejected, run.reports = dict(rejected), dict(reports)
        reconcile(run, entries)
        breaches = _breaches(run, max_bad_share)
        if not breaches:
            return run
        for version, reason in breaches.items():
            rejected[version] = reason
            reports[version] = report(run, mine[version], version, reason)
    raise ReconcileError(f"{source.name}: rejecting files did not settle (a bug)")


def _validated(
    raw: Path,
    source: Source,
    in_force: dict[str, list[manifest.Entry]],
    months: list[str],
    tables: Mapping[str, pl.DataFrame],
) -> dict[str, Validated]:
    """The months validated in one pass (a contract's checks cost the same for one row as for
    a month's), then split back into months; duplicate keys are found within a month."""
    if not months:
        return {}
    frames = [read_month(raw, source, in_force[m], m).with_columns(pl.lit(m).alias(MONTH))
              for m in months]  # fmt: skip
    found = by_month(validate_frame(pl.concat(frames, how="diagonal_relaxed"), source, tables))
    return {m: found[m] for m in months if m in found}


def _by_version(entries: list, source: Source) -> dict[str, dict]:
    return {manifest.short(e): e for e in entries if e["table"] == source.name}


def _breaches(run: TableRun, max_bad_share: float) -> dict[str, str]:
    found = {}
    for version, n in run.per_file().items():
        rows_in = n["validated"] + n["quarantined"]
        if rows_in and n["quarantined"] / rows_in > max_bad_share:
            _, why = run.file_rows(version)
            found[version] = too_many_bad(n["quarantined"], rows_in, max_bad_share, why)
    return found


def reconcile(run: TableRun, entries: list) -> None:
    """Per file: the rows its manifest entry gives for the months done = validated + quarantined."""
    for version, n in run.per_file().items():
        entry = _by_version(entries, run.source)[version]
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
        "table": run.source.name,
        "file": entry["file"],
        "version": version,
        "ingested_at": entry["ingested_at"],
        "outcome": "rejected" if reason else "validated",
        "reason": reason,
        "rows_in": rows_in,
        **n,
        "bad_share": n["quarantined"] / rows_in if rows_in else 0.0,
    }
    dropped_at = datetime.fromisoformat(entry["ingested_at"])
    return quality.build(rows, why, header, dropped_at, run.warned(version))


# ---- writing: only once every table passed ----------------------------------------------------


def _write_month(frame: pl.DataFrame, path: Path, keep_empty: bool) -> None:
    if frame.is_empty() and not keep_empty:
        path.unlink(missing_ok=True)  # e.g. the quarantine of an older version
        return
    write_parquet(frame, path)


def write_table(run: TableRun, validated: Path, quarantine: Path) -> None:
    name = run.source.name
    for month, result in run.months.items():
        part = Path(name) / f"month={month}" / "part.parquet"
        if month != UNKNOWN:  # rows of no month were all quarantined
            _write_month(result.valid.select(list(run.source.schema)), validated / part, True)
        bad = result.quarantined.drop(ROW, DROPPED_AT, strict=False).rename(
            {FILE: "source_version"}
        )
        _write_month(bad, quarantine / part, keep_empty=False)


def reference_frame(run: TableRun, validated: Path) -> pl.DataFrame | None:
    """The whole validated table after this run, for the tables that reference it."""
    if run.months:
        return pl.concat([r.valid for r in run.months.values()]).select(list(run.source.schema))
    if (validated / run.source.name).exists():
        return scan_zone(validated, run.source.name).collect()
    return None


@dataclass
class ValidationRun:
    tables: dict[str, TableRun]
    reports: dict[str, str]  # "<table>/<file>@<version>" -> HTML report
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
                "warnings": run.warned(),
            }
        return out


def validate(
    sources: Mapping[str, Source],
    raw: Path,
    validated: Path,
    quarantine: Path,
    max_bad_share: float,
    reports: Path | None = None,
    full: bool = False,
) -> ValidationRun:
    """Validate what changed in the raw zone (`sources` in reference order: referenced tables
    first), then write both zones, the reports, the manifest's validation records,
    `_changed.json` and `_state.json`."""
    reports = reports or validated.parent / "reports"
    entries = manifest.load(raw)
    state = read_json(validated / "_state.json", {}).get("tables", {})
    referenced = {r.table for s in sources.values() for r in s.references}
    runs: dict[str, TableRun] = {}
    tables: dict[str, pl.DataFrame] = {}
    for source in sources.values():
        mine = state.get(source.name, {})
        redo = (
            full
            or mine.get("fingerprint") != fingerprint(source, max_bad_share)
            or any(runs[r.table].months for r in source.references)
        )
        run = run_table(source, raw, entries, mine.get("months", {}), redo, tables, max_bad_share)
        runs[source.name] = run
        if source.name in referenced and (ref := reference_frame(run, validated)) is not None:
            tables[source.name] = ref
    return _finish(runs, entries, state, raw, validated, quarantine, reports)


def _record(fp: str, outcome: str, report_page: Path, **extra: Any) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat()
    return {"outcome": outcome, "fingerprint": fp, "at": at, "report": str(report_page), **extra}


def _finish(runs, entries, state, raw, validated, quarantine, reports) -> ValidationRun:
    pages, changed, records, tables_state = {}, {}, {}, {}
    for name, run in runs.items():
        write_table(run, validated, quarantine)
        in_force = manifest.in_force(entries, name, run.fingerprint, run.rejected.keys())
        months = dict(state.get(name, {}).get("months", {}))
        months.update({m: [manifest.short(e) for e in in_force[m]] for m in run.months})
        tables_state[name] = {"fingerprint": run.fingerprint, "months": months}
        counts = run.per_file()
        for version, entry in _by_version(entries, run.source).items():
            if version in run.rejected:
                built, extra = run.reports[version], {"reason": run.rejected[version]}
                outcome = "rejected"
            elif version in counts:
                built, extra, outcome = report(run, entry, version), counts[version], "validated"
            else:
                continue
            page = quality.write(built, reports / name / version)
            records[version] = _record(run.fingerprint, outcome, page, **extra)
            pages[f"{name}/{entry['file']}@{version}"] = str(page)
        changed[name] = sorted(m for m in run.months if m != UNKNOWN)  # none validated
    result = ValidationRun(runs, pages, changed)
    now = datetime.now(UTC).isoformat()
    write_json(result.summary(), validated / "_summary.json")
    write_json({"validated_at": now, "months": changed}, validated / "_changed.json")
    write_json({"tables": tables_state}, validated / "_state.json")
    manifest.save(manifest.with_validation(entries, records), raw)
    rejected = [f"{n}/{v}: {why}" for n, r in runs.items() for v, why in r.rejected.items()]
    if rejected:
        raise ContractError(
            "batch(es) rejected, the months keep their previous version: "
            + "; ".join(rejected)
            + f" (reports under {reports}; fix the file and drop it again under the same name)"
        )
    return result
