"""The bad-input corpus: each bad drop gives a clear message (no traceback), and nothing is
lost: every row of a readable file ends up validated or quarantined with its rule, column and
value; an unreadable file is rejected whole, named in the manifest, and changes no zone."""

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from larder.domain import load
from pipelines import __main__ as cli
from pipelines import ingest as ingest_module
from pipelines import readers, stages
from pipelines.errors import ContractError, PipelineError
from pipelines.ingest import ingest
from pipelines.settings import PipelineSettings
from pipelines.validate import validate
from tests.conftest import FIXTURE, FLIGHTS, new_platform

SOURCES = load(FLIGHTS).sources

FLIGHTS_CSV = zipfile.ZipFile(FIXTURE / "flights.csv.zip").read("flights.csv").decode()
HEADER, *ROWS = FLIGHTS_CSV.strip().split("\n")
FIRST = ROWS[
    0
]  # 2013,1,1,632,608,24,740,728,12,EV,4144,N13553,EWR,IAD,52,212,6,8,2013-01-01T11:00:00Z


@pytest.fixture
def platform_(tmp_path: Path) -> PipelineSettings:
    """The fixture's tables ingested and validated; a landing folder `drop/` beside them."""
    settings = new_platform(tmp_path)
    ingest(FIXTURE, settings.raw, SOURCES)
    validate_run(settings)
    (tmp_path / "drop").mkdir()
    return settings


def validate_run(settings: PipelineSettings, max_bad_share: float | None = None):
    share = settings.max_bad_share if max_bad_share is None else max_bad_share
    return validate(SOURCES, settings.raw, settings.validated, settings.quarantine, share)


def drop(settings: PipelineSettings, name: str, content: str | bytes) -> Path:
    path = settings.feature_repo.parent / "drop" / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path.parent


def flights_with(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def rejected(settings: PipelineSettings, name: str, content: str | bytes) -> str:
    """Ingest one bad file: it is rejected, recorded, and no zone changes; its message."""
    before = _zone_files(settings)
    (result,) = ingest(drop(settings, name, content), settings.raw, SOURCES)
    assert result.outcome == "rejected"
    assert _zone_files(settings) == before
    entry = json.loads((settings.raw / "_manifest.json").read_text())[-1]
    assert (entry["file"], entry["outcome"], entry["reason"]) == (name, "rejected", result.message)
    return result.message


def _zone_files(settings: PipelineSettings) -> dict[Path, bytes]:
    return {
        p: p.read_bytes() for p in settings.data_dir.rglob("*.parquet") if ".staging" not in p.parts
    }


def quarantined(settings: PipelineSettings, name: str, content: str) -> set[tuple[str, str, str]]:
    """Ingest and validate one file; (rule, column, value) of its quarantined rows."""
    (result,) = ingest(drop(settings, name, content), settings.raw, SOURCES, max_bad_share=1.0)
    assert result.outcome == "ingested", result.message
    validate_run(settings, max_bad_share=1.0)  # a few rows, some bad: keep the file
    bad = pl.read_parquet(settings.quarantine / "flights" / "*" / "*.parquet")
    mine = bad.filter(pl.col("source_version") != "02dcd4e1bbc1e5bf")  # not the fixture's
    return {(r["rule"], r["column"], r["value"]) for r in mine.iter_rows(named=True)}


def test_an_empty_file_is_rejected_as_empty(platform_) -> None:
    assert "empty file" in rejected(platform_, "flights_extra.csv", b"")


def test_a_header_only_file_ingests_nothing_and_says_so(platform_) -> None:
    (result,) = ingest(drop(platform_, "flights_extra.csv", HEADER + "\n"), platform_.raw, SOURCES)
    assert (result.outcome, result.rows) == ("empty", 0)
    assert "no rows" in result.message


def test_a_truncated_csv_quarantines_the_cut_row_and_keeps_the_rest(platform_) -> None:
    cut = flights_with(
        *[r.replace("2013,1,1,", "2013,1,8,").replace("01-01T", "01-08T") for r in ROWS[:3]]
    )
    reasons = quarantined(platform_, "flights_jan8.csv", cut[: len(cut) - 30])  # ends "IAD,5"
    assert ("complete_row", "*", "row cut short") in reasons
    valid = pl.read_parquet(platform_.validated / "flights" / "*" / "*.parquet")
    assert valid.filter(pl.col("day") == 8).height == 2


def test_a_wrong_delimiter_is_named(platform_) -> None:
    message = rejected(platform_, "flights_extra.csv", FLIGHTS_CSV.replace(",", ";"))
    assert "';'" in message and "separator" in message


def test_a_missing_column_is_named(platform_) -> None:
    frame = pl.read_csv(FLIGHTS_CSV.encode(), infer_schema=False).drop("distance")
    message = rejected(platform_, "flights_extra.csv", frame.write_csv())
    assert "distance" in message and "missing" in message


def test_an_extra_column_is_named(platform_) -> None:
    frame = pl.read_csv(FLIGHTS_CSV.encode(), infer_schema=False).with_columns(gate=pl.lit("A1"))
    assert "gate" in rejected(platform_, "flights_extra.csv", frame.write_csv())


def test_a_column_of_the_wrong_type_rejects_the_batch_naming_what_was_expected(platform_) -> None:
    frame = pl.read_csv(FLIGHTS_CSV.encode(), infer_schema=False).with_columns(
        distance=pl.lit("far")
    )
    message = rejected(platform_, "flights_extra.csv", frame.write_csv())
    assert "'distance'" in message and "whole numbers (Int64)" in message and "'far'" in message


def _moved(row: str, day: int) -> str:
    """The same flight a few days later (a new key, still consistent)."""
    return row.replace("2013,1,1,", f"2013,1,{day},").replace("2013-01-01T", f"2013-01-0{day}T")


def test_strings_in_numeric_columns_are_quarantined_with_the_value(platform_) -> None:
    rows = flights_with(_moved(FIRST, 8).replace(",212,", ",abc,"), _moved(ROWS[1], 8))
    assert ("dtype(Int64)", "distance", "abc") in quarantined(platform_, "flights_x.csv", rows)


def test_nan_and_infinities_are_quarantined(platform_) -> None:
    weather = (FIXTURE / "weather.csv").read_text().strip().split("\n")
    head, first, second = weather[0], weather[1], weather[2]
    bad = [_weather_moved(first, "NaN"), _weather_moved(second, "inf")]
    (result,) = ingest(
        drop(platform_, "weather_fix.csv", "\n".join([head, *bad]) + "\n"), platform_.raw, SOURCES
    )
    validate_run(platform_, max_bad_share=1.0)
    got = pl.read_parquet(platform_.quarantine / "weather" / "*" / "*.parquet")
    assert {("finite", "temp")} <= set(got.select("rule", "column").iter_rows())
    assert set(got.filter(pl.col("rule") == "finite")["value"]) == {"NaN", "inf"}


def _weather_moved(row: str, temp: str) -> str:
    """An observation a week later (a new key) with its temperature replaced."""
    cells = row.split(",")
    cells[3] = str(int(cells[3]) + 7)
    cells[5] = temp
    cells[-1] = cells[-1].replace("2013-01-0", "2013-01-1").replace("2013-01-1", "2013-01-0", 0)
    day = int(cells[-1][8:10]) + 7
    cells[-1] = f"{cells[-1][:8]}{day:02d}{cells[-1][10:]}"
    return ",".join(cells)


def test_negative_distances_are_quarantined(platform_) -> None:
    row = _moved(FIRST, 8).replace(",212,", ",-212,")
    assert ("in_range(1, 6000)", "distance", "-212") in quarantined(
        platform_, "flights_x.csv", flights_with(row)
    )


def test_timestamps_in_the_future_of_the_drop_are_quarantined(platform_) -> None:
    row = FIRST.replace("2013,1,1,", "2030,1,1,").replace("2013-01-01T", "2030-01-01T")
    reasons = quarantined(platform_, "flights_x.csv", flights_with(row))
    assert ("not_after_drop", "time_hour", "2030-01-01 11:00:00.000000+00:00") in reasons


def test_other_time_zones_are_converted_and_missing_or_wrong_ones_quarantined(platform_) -> None:
    offset = _moved(FIRST, 8).replace("2013-01-08T11:00:00Z", "2013-01-08T06:00:00-05:00")
    naive = _moved(ROWS[1], 8).replace("T13:00:00Z", " 13:00:00")
    wrong = _moved(ROWS[2], 8).replace("T", "T").replace(":00:00Z", ":00:00+02:00")
    reasons = quarantined(platform_, "flights_x.csv", flights_with(offset, naive, wrong))
    assert ("has_time_zone", "time_hour", "2013-01-08 13:00:00") in reasons
    assert any(rule.startswith("time_hour = local") for rule, _, _ in reasons)
    valid = pl.read_parquet(platform_.validated / "flights" / "*" / "*.parquet").filter(
        pl.col("day") == 8
    )
    assert valid["time_hour"].to_list() == [datetime(2013, 1, 8, 11, tzinfo=UTC)]


def test_timestamps_all_without_a_zone_reject_the_batch(platform_) -> None:
    naive = FLIGHTS_CSV.replace("Z\n", "\n").replace("T", " ")
    assert "with a zone" in rejected(platform_, "flights_x.csv", naive)


def test_duplicate_rows_inside_a_file_and_across_files_are_quarantined(platform_) -> None:
    row = _moved(FIRST, 8)
    reasons = quarantined(platform_, "flights_x.csv", flights_with(row, row, ROWS[5]))
    keys = [v for rule, _, v in reasons if rule == "duplicate_key"]
    assert len(keys) == 2  # the second copy in the file, and the fixture's row again
    valid = pl.read_parquet(platform_.validated / "flights" / "*" / "*.parquet")
    assert valid.height == len(ROWS) + 1  # nothing counted twice


def test_the_same_file_dropped_twice_changes_nothing(platform_) -> None:
    landing = drop(platform_, "flights.csv.zip", (FIXTURE / "flights.csv.zip").read_bytes())
    drop(platform_, "flights_copy.csv.zip", (FIXTURE / "flights.csv.zip").read_bytes())
    before = {p: p.read_bytes() for p in platform_.data_dir.rglob("*") if p.is_file()}
    results = ingest(landing, platform_.raw, SOURCES)
    assert [r.outcome for r in results] == ["skipped", "skipped"]
    assert "already ingested as flights.csv.zip" in results[1].message
    assert {p: p.read_bytes() for p in platform_.data_dir.rglob("*") if p.is_file()} == before


def test_a_non_utf8_file_is_named(platform_) -> None:
    text = flights_with(_moved(FIRST, 8).replace("N13553", "N1355\xe9")).encode("latin-1")
    message = rejected(platform_, "flights_x.csv", text)
    assert "not UTF-8" in message and "1 of 1 rows cannot be read" in message


def _correction(settings: PipelineSettings, lines: list[bytes]) -> Path:
    """A new version of the fixture's flights file holding `lines` (zipped, the same name)."""
    path = settings.feature_repo.parent / "drop" / "flights.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("flights.csv", b"\n".join([HEADER.encode(), *lines]) + b"\n")
    return path.parent


def _unreadable(settings: PipelineSettings, rule: str) -> list[str]:
    """The values of the quarantined rows of no month that broke `rule`."""
    bad = pl.read_parquet(settings.quarantine / "flights" / "month=unknown" / "*.parquet")
    return bad.filter(pl.col("rule") == rule)["value"].to_list()


def test_a_ragged_row_is_quarantined_with_its_line_and_the_rest_ingested(
    platform_, monkeypatch
) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 2_000)  # its line is counted across blocks
    lines = [r.encode() for r in ROWS]
    lines[100] += b",extra"  # line 102 (the header is line 1): 20 fields
    lines.insert(150, b"")  # a blank line is no row
    (result,) = ingest(_correction(platform_, lines), platform_.raw, SOURCES)
    assert (result.outcome, result.rows) == ("ingested", len(ROWS))
    assert "line 102: 20 fields, the header has 19" in result.message
    validate_run(platform_)
    valid = pl.read_parquet(platform_.validated / "flights" / "*" / "*.parquet")
    assert valid.height == len(ROWS) - 1  # this version replaced the fixture's
    (value,) = _unreadable(platform_, "row_fits_header")
    assert value.startswith(f"line 102: 20 fields, the header has 19: {ROWS[100][:30]}")


def test_a_row_that_is_not_utf8_is_quarantined_with_its_line(platform_) -> None:
    cells = ROWS[200].split(",")
    cells[11] += "\xe9"  # the tail number, in Latin-1
    lines = [r.encode() for r in ROWS]
    lines[200] = ",".join(cells).encode("latin-1")  # line 202
    (result,) = ingest(_correction(platform_, lines), platform_.raw, SOURCES)
    assert (result.outcome, result.rows) == ("ingested", len(ROWS))
    validate_run(platform_)
    valid = pl.read_parquet(platform_.validated / "flights" / "*" / "*.parquet")
    assert valid.height == len(ROWS) - 1
    (value,) = _unreadable(platform_, "utf8")
    assert value.startswith("line 202: not UTF-8")


def test_too_many_rows_that_cannot_be_read_reject_the_file_naming_the_count(platform_) -> None:
    ragged = [r + ",extra" if i % 10 == 0 else r for i, r in enumerate(ROWS)]  # 37 of 367
    message = rejected(platform_, "flights_x.csv", flights_with(*ragged))
    assert f"37 of {len(ROWS)} rows cannot be read" in message
    assert "line 2: 20 fields, the header has 19" in message and "separator" in message


def test_a_long_taxi_is_kept_and_counted_as_a_warning_in_the_report(platform_) -> None:
    slow = _moved(FIRST, 8).replace(",740,728,12,", ",1326,728,358,")  # 414 min gate to gate
    ingest(drop(platform_, "flights_x.csv", flights_with(slow)), platform_.raw, SOURCES)
    done = validate_run(platform_)
    rule = "gate to gate minus air_time <= 300 min"
    assert done.summary()["flights"]["warnings"] == {rule: 1}
    assert done.summary()["flights"]["quarantined"] == 0
    valid = pl.read_parquet(platform_.validated / "flights" / "*" / "*.parquet")
    assert valid.filter(pl.col("day") == 8)["arr_time"].to_list() == [1326]
    (page,) = [p for name, p in done.reports.items() if name.startswith("flights/flights_x")]
    report = json.loads(Path(page).with_name("report.json").read_text())
    assert report["warnings"] == {rule: 1} and report["quarantined"] == 0
    assert f"warning {rule}: 1 rows (kept)" in Path(page).with_name("report.txt").read_text()


def test_a_zero_byte_parquet_is_named(platform_) -> None:
    assert "0-byte" in rejected(platform_, "flights_x.parquet", b"")


def test_a_parquet_that_is_not_parquet_is_named(platform_) -> None:
    assert "not a Parquet file" in rejected(platform_, "flights_x.parquet", FLIGHTS_CSV)


def test_a_parquet_drop_lands_like_its_csv(platform_, tmp_path: Path) -> None:
    frame = ingest_module.read_source(SOURCES["flights"], FIXTURE / "flights.csv.zip")
    moved = frame.with_columns(pl.col("day") + 7, pl.col("time_hour").dt.offset_by("7d"))
    path = platform_.feature_repo.parent / "drop" / "flights_jan8.parquet"
    moved.to_pandas().to_parquet(path)  # as pandas writes it: nullable ints become floats
    (result,) = ingest(path.parent, platform_.raw, SOURCES)
    assert (result.outcome, result.rows) == ("ingested", frame.height)
    validate_run(platform_)
    valid = pl.read_parquet(platform_.validated / "flights" / "*" / "*.parquet")
    assert valid.height == 2 * frame.height


def test_a_large_file_is_streamed_in_blocks(platform_, monkeypatch) -> None:
    blocks = []
    real = readers._parse_block
    monkeypatch.setattr(readers, "BLOCK_BYTES", 2_000)
    monkeypatch.setattr(
        readers, "_parse_block", lambda b, h, n: blocks.append(len(b)) or real(b, h, n)
    )
    raw = platform_.data_dir / "raw2"
    ingest(FIXTURE, raw, SOURCES)
    assert len(blocks) > 10 and max(blocks) < 4_000
    frame = pl.read_parquet(raw / "flights" / "*" / "*.parquet")
    assert frame.height == len(ROWS)


def test_a_crash_mid_ingest_leaves_raw_zone_and_manifest_as_they_were(
    platform_, monkeypatch
) -> None:
    before = {p: p.read_bytes() for p in platform_.raw.rglob("*") if p.is_file()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ingest_module, "publish", crash)
    with pytest.raises(OSError):
        ingest(
            drop(platform_, "flights_x.csv", flights_with(_moved(FIRST, 8))), platform_.raw, SOURCES
        )
    after = {
        p: p.read_bytes()
        for p in platform_.raw.rglob("*")
        if p.is_file() and ".staging" not in p.parts
    }
    assert after == before


def test_too_many_bad_rows_reject_the_file_and_the_previous_version_stays(platform_) -> None:
    before = _zone_files(platform_)
    bad = [r.replace(",EWR,", ",XXX,") for r in ROWS]  # unknown origin everywhere
    (result,) = ingest(drop(platform_, "flights.csv", flights_with(*bad)), platform_.raw, SOURCES)
    with pytest.raises(ContractError, match="flights.*exists_in"):
        validate_run(platform_)
    after = _zone_files(platform_)
    assert {p: b for p, b in after.items() if "validated" in p.parts} == {
        p: b for p, b in before.items() if "validated" in p.parts
    }
    entry = json.loads((platform_.raw / "_manifest.json").read_text())[-1]
    assert entry["validation"]["outcome"] == "rejected"
    assert "allowed" in entry["validation"]["reason"]
    assert Path(entry["validation"]["report"]).exists()
    validate_run(platform_)  # the next run goes on without it


def test_a_late_correction_replaces_its_month_and_names_it_as_changed(platform_) -> None:
    fixed = [r.replace(",212,", ",213,") for r in ROWS]  # a corrected distance
    frame = pl.read_csv(flights_with(*fixed).encode(), infer_schema=False)
    path = platform_.feature_repo.parent / "drop" / "flights.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("flights.csv", frame.write_csv())
    (result,) = ingest(path.parent, platform_.raw, SOURCES)
    assert result.late_months == ("2013-01",)
    validate_run(platform_)
    valid = pl.read_parquet(platform_.validated / "flights" / "*" / "*.parquet")
    assert valid.height == len(ROWS)  # replaced, not added
    assert 212 not in valid["distance"].to_list() and 213 in valid["distance"].to_list()
    changed = json.loads((platform_.validated / "_changed.json").read_text())["months"]
    assert changed["flights"] == ["2013-01"] and changed["weather"] == []


def test_the_report_is_written_in_three_forms_and_linked(platform_, capsys) -> None:
    (result,) = ingest(
        drop(platform_, "flights_x.csv", flights_with(_moved(FIRST, 8))), platform_.raw, SOURCES
    )
    said = cli._validated(stages.validate(platform_))
    printed = capsys.readouterr().err
    page = Path(printed.split("report flights/flights_x.csv@")[1].split(": ", 1)[1].split()[0])
    assert page.exists() and "<svg" in page.read_text()
    report = json.loads(page.with_name("report.json").read_text())
    assert report["rows_in"] == 1 and report["columns"]["distance"]["completeness"] == 1.0
    assert "1 rows in = 1 validated" in page.with_name("report.txt").read_text()
    assert f"flights: {len(ROWS) + 1} valid" in said


def test_the_cli_prints_a_message_not_a_traceback(platform_, monkeypatch, capsys) -> None:
    drop(platform_, "flights_x.csv", b"")
    monkeypatch.setenv("LARDER_FEATURE_REPO", str(platform_.feature_repo))
    code = cli.main(["ingest", "--landing", str(platform_.feature_repo.parent / "drop")])
    err = capsys.readouterr().err
    assert code == 1 and "empty file" in err and "Traceback" not in err
    assert issubclass(ContractError, PipelineError)
