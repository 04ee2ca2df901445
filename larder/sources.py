"""Source tables: what a domain's raw files hold, how they are checked, and when rows are known.

A `Source` is one table of the landing zone. Its files are named after it (e.g.
`orders.csv.zip`, `orders_2024-05.csv`, `orders-fix.parquet`); each is read as text and cast
to `schema`, split into month partitions (`partition`), and checked at the boundary to the
validated zone by its pandera `contract` (types, ranges, one-table rules), its `references`
(a value must exist in another table), its `rules` (Polars functions over the table and the
tables it references, for what needs more than one table) and the platform's own rules:
`key` unique, no `time` after the file's drop, none older than `lateness` before it.

A row that breaks a rule is quarantined, except a rule built with `failures(..., warn=True)`:
one that real data can plausibly break (an unusually long taxi), whose rows are kept and
counted per rule in the quality report.

`known_at` says when a row became known when that is later than its `time` (e.g. a flight's
outcome is known when it lands, not at its scheduled hour): the replay releases rows by it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import pandera.polars as pa

    from larder.derive import Derivation

UTC_US = pl.Datetime("us", "UTC")
ROW = "_row"  # a row's position in the batch being validated, in the frames rules receive
SUPPORTED = (pl.Int64(), pl.Float64(), pl.String(), pl.Boolean(), UTC_US)

SEVERITY = "severity"  # in a frame of failures: "warn" for a rule that keeps its rows
WARN = "warn"

# A rule beyond the contract: (the batch with its `ROW` column, the validated tables it
# references by name) -> frames of failures, each built with `failures`.
RowRule = Callable[[pl.DataFrame, Mapping[str, pl.DataFrame]], list[pl.DataFrame]]


def failures(
    rows: pl.DataFrame, rule: str, column: str, value: pl.Expr, *, warn: bool = False
) -> pl.DataFrame:
    """The reasons `rows` (a filtered batch) broke `rule`: one row per row, naming the
    column(s) it is about and the offending value as text. They quarantine the rows, unless
    `warn`: then the rows are kept and counted, per rule, in the quality report."""
    found = rows.select(
        pl.col(ROW), rule=pl.lit(rule), column=pl.lit(column), value=value.cast(pl.String)
    )
    return found.with_columns(pl.lit(WARN).alias(SEVERITY)) if warn else found


@dataclass(frozen=True)
class Monthly:
    """Partitioned by month: from `year` and `month` columns, or from a timestamp `time`."""

    year: str | None = None
    month: str | None = None
    time: str | None = None

    def __post_init__(self) -> None:
        if (self.time is None) == (self.year is None or self.month is None):
            raise ValueError("Monthly needs either year= and month= columns, or time=")

    def columns(self) -> tuple[str, ...]:
        return (self.time,) if self.time else (str(self.year), str(self.month))

    def label(self) -> pl.Expr:
        """`2013-01` for each row (null when its month is unknown)."""
        if self.time:
            return pl.col(self.time).dt.strftime("%Y-%m")
        month = pl.col(str(self.month)).cast(pl.String).str.zfill(2)
        return pl.format("{}-{}", pl.col(str(self.year)), month)


@dataclass(frozen=True)
class Reference:
    """`column` must hold a value of `other` in the table `table` (nulls pass)."""

    column: str
    table: str
    other: str


@dataclass(frozen=True)
class KnownAt:
    """Rows become known at `column` of what `derivation` makes of them. The derivation must
    keep the source's key columns and give one row per source row."""

    derivation: "Derivation"
    column: str


@dataclass(frozen=True)
class Sample:
    """Where a domain's sample data comes from, for a first run with no landing folder: a
    file shipped in an installed package, a file in the domain folder, or a function that
    returns the table (for data shipped in a format the landing zone does not read)."""

    package: str | None = None
    path: str | None = None
    frame: Callable[[], pl.DataFrame] | None = None


def package_file(package: str, path: str) -> Sample:
    """A file inside an installed package (its `__init__` is not run)."""
    return Sample(package=package, path=path)


def repo_file(path: str) -> Sample:
    """A file in the domain folder, relative to it."""
    return Sample(path=path)


def sample_frame(make: Callable[[], pl.DataFrame]) -> Sample:
    """A function returning the whole table; it is written as Parquet and ingested."""
    return Sample(frame=make)


@dataclass(frozen=True, eq=False)
class Source:
    name: str
    schema: Mapping[str, pl.DataType]  # columns as read, in file order; see SUPPORTED
    key: tuple[str, ...]  # unique per row; a repeated key keeps the first row
    contract: "type[pa.DataFrameModel]"
    partition: Monthly | None = None  # None: one partition, `all`
    time: str | None = None  # when the row's event happened (a UTC timestamp column)
    lateness: timedelta | None = None  # the oldest `time` a drop may carry, before the drop
    known_at: KnownAt | None = None  # when later than `time`
    references: tuple[Reference, ...] = ()
    rules: tuple[RowRule, ...] = ()
    # a dataframe-wide check's error message -> the columns it is about (for the quarantine)
    check_columns: Mapping[str, str] = field(default_factory=dict)
    sample: Sample | None = None
    description: str = ""

    def __post_init__(self) -> None:
        unsupported = {n: t for n, t in self.schema.items() if t not in SUPPORTED}
        if unsupported:
            raise ValueError(
                f"source {self.name!r}: column(s) {unsupported} of an unsupported type; "
                f"use one of {[str(t) for t in SUPPORTED]}"
            )
        declared = [*self.key, *(self.partition.columns() if self.partition else ())]
        declared += [c for c in (self.time,) if c] + [r.column for r in self.references]
        unknown = [c for c in declared if c not in self.schema]
        if unknown:
            raise ValueError(f"source {self.name!r} names column(s) {unknown} not in its schema")
        if self.time and self.schema[self.time] != UTC_US:
            raise ValueError(f"source {self.name!r}: time column {self.time!r} must be {UTC_US}")
        if (self.time or self.known_at) and self.partition is None:
            raise ValueError(
                f"source {self.name!r} has rows in time but no partition: give it "
                f"partition=Monthly(...) so its months can be validated and transformed one by "
                f"one (a table with no time, a lookup, needs neither)"
            )

    @property
    def is_reference(self) -> bool:
        """Whether its rows have no time: they are known from the start (a lookup table)."""
        return self.time is None and self.known_at is None

    def partition_label(self) -> pl.Expr:
        return self.partition.label() if self.partition else pl.lit("all")

    def describe(self) -> dict[str, Any]:
        """What the platform checks, as plain data (part of the contract's fingerprint)."""
        return {
            "schema": {n: str(t) for n, t in self.schema.items()},
            "key": list(self.key),
            "time": self.time,
            "lateness": None if self.lateness is None else self.lateness.total_seconds(),
            "references": [(r.column, r.table, r.other) for r in self.references],
            "check_columns": dict(self.check_columns),
        }
