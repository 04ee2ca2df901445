"""Read one landing file (CSV, zipped or gzipped CSV, or Parquet) as a stream of typed chunks.

A file is never loaded whole: CSV is cut into blocks at line ends, Parquet is read by record
batch. Every column is first read as text, then cast to the table's schema. A cell that does
not cast is kept as null in its typed column and recorded, with its column and original text,
in the row's `_issues` list, so validation can quarantine the row with the reason. A column
that casts nowhere (a wrong delimiter, a wrong type) is a table-level break: `ColumnStats`
collects the counts and `table_breaks` names the column.

A CSV line that cannot be read as a row (more or fewer fields than the header, bytes that are
not UTF-8, a last line cut short) becomes a row of nulls, in no month, whose issue names its
line number and shows its text, so validation quarantines it and the rest of the file goes on;
`unreadable_share` rejects the file when such rows pass the share of bad rows allowed. Blank
lines are not rows. A block is checked whole first (decoded, parsed, its separators counted)
and split line by line only when it holds such a line, so clean files read at full speed.

Limits (documented, not handled): CSV fields holding a quoted newline; a separator other than
`,` (the file is rejected with a hint naming the separator it seems to use).
"""

import csv
import gzip
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from larder import UTC_US, Source
from pipelines.errors import IngestError

ISSUES = "_issues"
ISSUE = pl.Struct({"rule": pl.String, "column": pl.String, "value": pl.String})
UNKNOWN = "unknown"  # the partition of rows whose month cannot be read
WHOLE_ROW = "*"  # the column of an issue about a whole line
FITS_HEADER, UTF8, CUT = "row_fits_header", "utf8", "complete_row"  # a line that did not read
HINTS = {
    FITS_HEADER: "check the separator and the quoting",
    UTF8: "re-save the file as UTF-8",
    CUT: "the file ends mid-row: drop the whole export",
}
SHOWN = 80  # characters of a bad line shown in its issue
QUOTED = re.compile(rb'"[^"]*"')
BLOCK_BYTES = 32 << 20  # CSV bytes parsed at a time
BATCH_ROWS = 500_000  # Parquet rows read at a time
NULLS = ["NA", ""]
ZONE = r"(Z|[+-]\d\d:?\d\d)\s*$"
EXPECTED = {
    pl.Int64(): "whole numbers (Int64)",
    pl.Float64(): "numbers (Float64)",
    pl.String(): "text",
    pl.Boolean(): "true or false",
    UTC_US: "ISO-8601 timestamps with a zone, e.g. 2013-01-01T10:00:00Z",
}


@dataclass
class ColumnStats:
    """Per column: cells that held a value, and cells whose value did not cast; per file: rows,
    and rows that could not be read (with the first few reasons)."""

    present: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    example: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    unreadable: dict[str, int] = field(default_factory=dict)  # rule -> rows
    lines: list[str] = field(default_factory=list)

    def add(self, typed: pl.DataFrame) -> None:
        issues = typed[ISSUES].explode().drop_nulls().struct.unnest()
        whole = issues.filter(pl.col("column") == WHOLE_ROW)
        self.rows += typed.height
        for rule, n in whole.group_by("rule").len().rows():
            self.unreadable[rule] = self.unreadable.get(rule, 0) + n
        self.lines += whole["value"].head(3 - len(self.lines)).to_list()
        issues = issues.filter(pl.col("column") != WHOLE_ROW)
        failed = dict.fromkeys(typed.columns, 0)
        for name, n, value in issues.group_by("column").agg(pl.len(), pl.first("value")).rows():
            failed[name] = n
            self.example.setdefault(name, value)
        for name in typed.drop(ISSUES).columns:
            self.failed[name] = self.failed.get(name, 0) + failed[name]
            present = int(typed[name].is_not_null().sum()) + failed[name]
            self.present[name] = self.present.get(name, 0) + present


def table_breaks(stats: ColumnStats, table: Source) -> list[str]:
    """Columns in which no value casts to the contract's type: the batch cannot be read."""
    return [
        f"column {name!r} should hold {EXPECTED[table.schema[name]]} but none of its "
        f"{stats.present[name]} values does (e.g. {stats.example[name]!r})"
        for name in table.schema
        if stats.present.get(name) and stats.failed[name] == stats.present[name]
    ]


def unreadable_share(stats: ColumnStats, max_bad_share: float) -> str | None:
    """Why a file is rejected for its lines that cannot be read as rows (their share passes
    `max_bad_share`, as bad rows do at validation), or None."""
    bad = sum(stats.unreadable.values())
    if not bad or bad / stats.rows <= max_bad_share:
        return None
    hints = "; ".join(HINTS[rule] for rule in sorted(stats.unreadable))
    return (
        f"{bad} of {stats.rows} rows cannot be read ({bad / stats.rows:.1%} > the "
        f"{max_bad_share:.1%} allowed), e.g. {'; '.join(stats.lines)}; {hints}"
    )


def _to_int(col: pl.Expr) -> pl.Expr:
    """Whole numbers, also when written as `1400.0` (pandas writes int columns with NA so)."""
    as_float = col.cast(pl.Float64, strict=False)
    whole = as_float.is_finite() & (as_float == as_float.floor())
    return pl.coalesce(
        col.cast(pl.Int64, strict=False), pl.when(whole).then(as_float).cast(pl.Int64)
    )


def _to_utc(col: pl.Expr) -> pl.Expr:
    """ISO-8601 with `Z` or an offset, converted to UTC; a time without a zone does not cast."""
    iso = col.str.strip_chars().str.replace(" ", "T").str.replace(r"Z$", "+00:00")
    return iso.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=False
    )


def _to_bool(col: pl.Expr) -> pl.Expr:
    text = col.str.strip_chars().str.to_lowercase()
    return (
        pl.when(text.is_in(["true", "1"])).then(True).when(text.is_in(["false", "0"])).then(False)
    )


def _cast(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.Int64():
        return _to_int(col).alias(name)
    if dtype == UTC_US:
        return _to_utc(col).alias(name)
    if dtype == pl.Boolean():
        return _to_bool(col).alias(name)
    return col.cast(dtype, strict=False).alias(name)


def _issue(name: str, dtype: pl.DataType) -> pl.Expr:
    """A cell that did not cast: the rule it broke, its column, its text."""
    rule = pl.lit(f"dtype({dtype})")
    if dtype == UTC_US:  # say so when the zone is what is missing
        rule = (
            pl.when(pl.col(name).str.contains(ZONE)).then(rule).otherwise(pl.lit("has_time_zone"))
        )
    return pl.struct(rule=rule, column=pl.lit(name), value=pl.col(name))


def type_text(
    text: pl.DataFrame, table: Source, truncated: pl.Series | None = None
) -> pl.DataFrame:
    """Text columns -> the table's schema plus `_issues` (one entry per cell that did not cast)."""
    typed = text.select(_cast(n, t) for n, t in table.schema.items())
    failed = [
        pl.when(pl.col(n).is_not_null() & typed[n].is_null()).then(_issue(n, t))
        for n, t in table.schema.items()
    ]
    issues = text.select(pl.concat_list(failed).list.drop_nulls().alias(ISSUES))[ISSUES]
    if truncated is not None:
        cut = pl.Series([[{"rule": CUT, "column": WHOLE_ROW, "value": "row cut short"}]])
        issues = pl.select(pl.when(truncated).then(cut.first()).otherwise(issues)).to_series()
    return typed.with_columns(issues.cast(pl.List(ISSUE)).alias(ISSUES))


def check_header(columns: list[str], table: Source, name: str) -> None:
    """A missing or an extra column rejects the file, naming the column and what was expected."""
    missing = [c for c in table.schema if c not in columns]
    extra = [c for c in columns if c not in table.schema]
    if missing and len(columns) == 1:
        seps = {s: columns[0].count(s) for s in (";", "\t", "|")}
        sep = max(seps, key=seps.__getitem__)
        if seps[sep]:
            raise IngestError(
                f"{name}: one column {columns[0][:40]!r}...: the file seems separated by "
                f"{sep!r}; write it with ',' as the separator"
            )
    if missing:
        raise IngestError(
            f"{name}: column(s) {', '.join(missing)} missing; the {table.name} table needs "
            f"{', '.join(table.schema)}"
        )
    if extra:
        raise IngestError(
            f"{name}: unexpected column(s) {', '.join(extra)}; the {table.name} contract has "
            "none such: drop them, or declare them in the domain's Source and its contract"
        )


@contextmanager
def _open_csv(path: Path) -> Iterator[tuple[IO[bytes], int | None]]:
    """The CSV's byte stream and its size when known (for the progress bar)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise IngestError(f"{path.name}: a zip must hold exactly one CSV file")
            with archive.open(members[0]) as stream:
                yield stream, members[0].file_size
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as stream:
            yield stream, None  # type: ignore[misc]
    else:
        with path.open("rb") as stream:
            yield stream, path.stat().st_size


def _decode(data: bytes, name: str, offset: int) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{name}: not UTF-8 (byte {offset + exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "re-save the file as UTF-8"
        ) from None


def _header(stream: IO[bytes], name: str) -> list[str]:
    line = stream.readline()
    if not line.strip():
        raise IngestError(f"{name}: empty file, no header and no rows; drop the full export")
    _decode(line, name, 0)
    return [c.strip() for c in next(csv.reader([line.decode("utf-8-sig")]))]


def _blocks(stream: IO[bytes], block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines; the last one may end without a line break."""
    while block := stream.read(block_bytes):
        yield block + stream.readline()


def _parse_block(block: bytes, header: list[str], name: str) -> pl.DataFrame:
    try:
        return pl.read_csv(
            block, has_header=False, new_columns=header, infer_schema=False, null_values=NULLS
        )
    except pl.exceptions.PolarsError as exc:
        first = str(exc).splitlines()[0]
        raise IngestError(
            f"{name}: a row does not fit the header's {len(header)} columns ({first}); "
            "check the separator and the quoting"
        ) from None


def _whole_block(block: bytes, header: list[str], name: str) -> pl.DataFrame | None:
    """The block parsed, when every line of it reads as a row; else None."""
    try:
        block.decode("utf-8")
        text = _parse_block(block, header, name)  # it refuses a line with too many fields
    except (UnicodeDecodeError, IngestError):
        return None
    lines = block.count(b"\n") + (not block.endswith(b"\n"))
    unquoted = QUOTED.sub(b"", block) if b'"' in block else block
    fits = text.height == lines and unquoted.count(b",") == lines * (len(header) - 1)
    return text if fits else None


@dataclass(frozen=True)
class Lines:
    """A block's lines sorted: those that read as rows, the (rule, value) of those that do not."""

    rows: list[bytes]
    bad: list[tuple[str, str]]
    cut: bool  # the last of `rows` is cut short: the file ends mid-row


def _fields(text: str) -> int:
    return text.count(",") + 1 if '"' not in text else len(next(csv.reader([text]), []))


def _problem(line: bytes, number: int, width: int) -> tuple[str, str] | None:
    """Why a line cannot be read as a row (its issue's rule and value), or None."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = line.decode("utf-8", "replace")[:SHOWN]
        byte = line[exc.start : exc.start + 1]
        where = f"byte {exc.start + 1} of the line: {byte!r}"
        return UTF8, f"line {number}: not UTF-8 ({where}): {shown}"
    fields = _fields(text)
    if fields != width:
        shown = text.rstrip("\r")[:SHOWN]
        return FITS_HEADER, f"line {number}: {fields} fields, the header has {width}: {shown}"
    return None


def sort_lines(block: bytes, width: int, first: int) -> Lines:
    """Split a block (line `first` of the file onwards) into rows and lines that are not."""
    *lines, last = block.split(b"\n")  # `last`: after the last line break, empty but at the end
    rows: list[bytes] = []
    bad: list[tuple[str, str]] = []
    for number, line in enumerate(lines, first):
        if width > 1 and not line.strip(b"\r"):
            continue  # a blank line is no row
        problem = _problem(line, number, width)
        if problem is None:
            rows.append(line)
        else:
            bad.append(problem)
    if not last:
        return Lines(rows, bad, cut=False)
    problem = _problem(last, first + len(lines), width)
    cut = problem is not None and problem[0] == FITS_HEADER and _fields(last.decode()) < width
    if problem is None or cut:  # a cut row keeps the fields it has
        return Lines([*rows, last], bad, cut=cut)
    return Lines(rows, [*bad, problem], cut=False)


def _unreadable(bad: list[tuple[str, str]], table: Source) -> pl.DataFrame:
    """Rows of nulls for lines that did not read, each with its issue."""
    issues = [[{"rule": rule, "column": WHOLE_ROW, "value": value}] for rule, value in bad]
    frame = pl.DataFrame({ISSUES: issues}, schema={ISSUES: pl.List(ISSUE)})
    return frame.select(*(pl.lit(None, t).alias(n) for n, t in table.schema.items()), ISSUES)


def _typed_block(
    block: bytes, header: list[str], table: Source, name: str, first: int
) -> pl.DataFrame:
    """A block's rows, typed; a line that does not read is a row of nulls with its issue."""
    text = _whole_block(block, header, name)
    if text is not None:
        return type_text(text.select(list(table.schema)), table)
    lines = sort_lines(block, len(header), first)
    if lines.rows:
        text = _parse_block(b"\n".join(lines.rows) + b"\n", header, name)
    else:
        text = pl.DataFrame(schema=dict.fromkeys(header, pl.String))
    cut = pl.Series([False] * (text.height - 1) + [True]) if lines.cut else None
    typed = type_text(text.select(list(table.schema)), table, cut)
    return pl.concat([typed, _unreadable(lines.bad, table)])


def csv_chunks(
    path: Path, table: Source, progress: "Progress", block_bytes: int | None = None
) -> Iterator[pl.DataFrame]:
    """The CSV as typed chunks, after checking its header."""
    block_bytes = block_bytes or BLOCK_BYTES
    with _open_csv(path) as (stream, size):
        header = _header(stream, path.name)
        check_header(header, table, path.name)
        progress.start(size)
        line = 2  # the block's first: the header is line 1
        for block in _blocks(stream, block_bytes):
            progress.update(len(block))
            yield _typed_block(block, header, table, path.name, line)
            line += block.count(b"\n")


def _as_text(batch: pa.RecordBatch) -> pl.DataFrame:
    """Parquet columns as text; zoned timestamps in ISO-8601 UTC, naive ones without a zone."""
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame.select(
        pl.col(n).dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.f%z")
        if isinstance(t, pl.Datetime) and t.time_zone
        else pl.col(n).dt.to_string("%Y-%m-%dT%H:%M:%S%.f")
        if isinstance(t, pl.Datetime)
        else pl.col(n).cast(pl.String)
        for n, t in frame.schema.items()
    )


def parquet_chunks(path: Path, table: Source, progress: "Progress") -> Iterator[pl.DataFrame]:
    try:
        reader = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        size = path.stat().st_size
        what = "a 0-byte file" if size == 0 else f"not a Parquet file ({exc})"
        raise IngestError(f"{path.name}: {what}; re-export it as Parquet") from None
    check_header(reader.schema_arrow.names, table, path.name)
    progress.start(reader.metadata.num_rows, unit="rows")
    for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=list(table.schema)):
        progress.update(batch.num_rows)
        yield type_text(_as_text(batch), table)


class Progress:
    """A tqdm bar on stderr for files above a size; silent otherwise (and in tests)."""

    def __init__(self, name: str, enabled: bool, min_total: int = 64 << 20) -> None:
        self.name, self.enabled, self.min_total, self.bar = name, enabled, min_total, None

    def start(self, total: int | None, unit: str = "B") -> None:
        big = total is None or total >= (self.min_total if unit == "B" else 1_000_000)
        if self.enabled and big:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, unit_scale=True, desc=self.name, leave=False)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def read_chunks(
    path: Path, table: Source, progress: Progress | None = None
) -> Iterator[pl.DataFrame]:
    """Typed chunks of any supported file; IngestError names what is wrong with it."""
    progress = progress or Progress(path.name, enabled=False)
    try:
        if path.suffix == ".parquet":
            yield from parquet_chunks(path, table, progress)
        else:
            yield from csv_chunks(path, table, progress)
    except (zipfile.BadZipFile, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IngestError(f"{path.name}: cannot read it as the {table.name} table: {exc}") from None
    finally:
        progress.close()
