"""Validate: split each raw table into validated rows and quarantined rows with their reasons.

Rows in = rows validated + rows quarantined, per table, or the run fails. A table-level break
(a missing column, a type that cannot be read) or too many bad rows rejects the batch whole,
and the validated zone keeps its previous state.
"""

from dataclasses import dataclass
from pathlib import Path

import pandera.errors
import polars as pl

from pipelines.contracts import CONTRACTS
from pipelines.errors import ContractError, ReconcileError
from pipelines.storage import scan_zone, write_json, write_parquet
from pipelines.tables import TABLES, Table, partition_of

ROW = "_row"
REASON_COLUMNS = ("rule", "column", "value")

# (column, referenced table, referenced column): a value must exist in the referenced table
REFERENCES = {
    "flights": [("carrier", "airlines", "carrier"), ("origin", "airports", "faa")],
    "weather": [("origin", "airports", "faa")],
}


@dataclass(frozen=True)
class Validated:
    table: str
    valid: pl.DataFrame
    quarantined: pl.DataFrame  # the row's columns plus rule, column, value

    @property
    def rows_in(self) -> int:
        return (
            self.valid.height + self.quarantined[ROW].n_unique()
            if self.quarantined.height
            else self.valid.height
        )


def _reasons(rows: pl.DataFrame, rule: str, column: str, value: pl.Expr) -> pl.DataFrame:
    return rows.select(
        pl.col(ROW), rule=pl.lit(rule), column=pl.lit(column), value=value.cast(pl.String)
    )


def duplicate_keys(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Every row whose key was already seen earlier in the batch (the first one is kept)."""
    dupes = frame.filter(~pl.struct(list(table.key)).is_first_distinct())
    key = pl.concat_str([pl.col(k).cast(pl.String) for k in table.key], separator="|")
    return _reasons(dupes, "duplicate_key", ",".join(table.key), key)


def contract_failures(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Row-level contract failures; a table-level one raises ContractError."""
    try:
        CONTRACTS[table.name].validate(frame.drop(ROW), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        whole = cases.filter(pl.col("index").is_null())
        if whole.height:
            problems = "; ".join(
                f"column {c!r}: {check} (found {case})"
                for c, check, case in whole.select("column", "check", "failure_case").iter_rows()
            )
            raise ContractError(
                f"{table.name}: the batch breaks its contract: {problems}"
            ) from None
        return cases.select(
            pl.col("index").cast(pl.UInt32).alias(ROW),
            rule=pl.col("check"),
            column=pl.col("column"),
            value=pl.col("failure_case"),
        )
    return pl.DataFrame(schema={ROW: pl.UInt32, **{c: pl.String for c in REASON_COLUMNS}})


def reference_failures(
    frame: pl.DataFrame, table: Table, references: dict[str, pl.DataFrame]
) -> list[pl.DataFrame]:
    failures = []
    for column, other, other_column in REFERENCES.get(table.name, []):
        known = references[other][other_column]
        missing = frame.filter(
            pl.col(column).is_not_null() & ~pl.col(column).is_in(known.implode())
        )
        failures.append(
            _reasons(missing, f"exists_in({other}.{other_column})", column, pl.col(column))
        )
    return failures


def validate_frame(
    frame: pl.DataFrame, table: Table, references: dict[str, pl.DataFrame]
) -> Validated:
    frame = frame.with_row_index(ROW)
    reasons = pl.concat(
        [
            duplicate_keys(frame, table),
            contract_failures(frame, table),
            *reference_failures(frame, table, references),
        ]
    )
    bad = reasons.join(frame, on=ROW, how="inner").sort(ROW)
    valid = frame.join(reasons.select(ROW).unique(), on=ROW, how="anti").drop(ROW)
    result = Validated(table.name, valid, bad)
    if result.rows_in != frame.height:
        raise ReconcileError(
            f"{table.name}: {frame.height} rows in but {valid.height} validated + "
            f"{bad[ROW].n_unique()} quarantined"
        )
    return result


def _write_zone(frame: pl.DataFrame, table: Table, zone: Path) -> None:
    if frame.is_empty():
        return
    parts = frame.with_columns(_partition=partition_of(table)).partition_by(
        "_partition", as_dict=True, include_key=False
    )
    for (label,), part in parts.items():
        write_parquet(part, zone / table.name / f"month={label}" / "part.parquet")


def check_share(result: Validated, max_bad_share: float) -> None:
    rows_in = result.rows_in
    bad = result.quarantined[ROW].n_unique() if result.quarantined.height else 0
    if rows_in and bad / rows_in > max_bad_share:
        top = result.quarantined.group_by("rule").len().sort("len", descending=True).head(3)
        rules = ", ".join(f"{r} ({n})" for r, n in top.iter_rows())
        raise ContractError(
            f"{result.table}: {bad} of {rows_in} rows break the contract "
            f"({bad / rows_in:.1%} > the {max_bad_share:.1%} allowed); most broken rules: {rules}"
        )


def validate(raw: Path, validated: Path, quarantine: Path, max_bad_share: float) -> dict:
    """Validate every table (reference tables first); write both zones and a summary."""
    references: dict[str, pl.DataFrame] = {}
    results = {}
    for table in TABLES.values():
        result = validate_frame(scan_zone(raw, table.name).collect(), table, references)
        check_share(result, max_bad_share)
        references[table.name] = result.valid
        results[table.name] = result
    summary = {}
    for name, result in results.items():  # written only once every table passed
        table = TABLES[name]
        _write_zone(result.valid, table, validated)
        _write_zone(result.quarantined, table, quarantine)
        summary[name] = {
            "rows_in": result.rows_in,
            "validated": result.valid.height,
            "quarantined": result.rows_in - result.valid.height,
            "rules": dict(result.quarantined.group_by("rule").len().iter_rows()),
        }
    write_json(summary, validated / "_summary.json")
    return summary
