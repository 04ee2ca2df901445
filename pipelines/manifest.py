"""The raw zone's manifest: one entry per ingested file version, and which versions count.

An entry holds the file's name, table, sha256, rows per month partition, time of ingest and
outcome (`ingested`, `empty`, `rejected` with a reason); validation adds a `validation` record.

Which version wins: files are versioned by name. For each month, the newest accepted version
of each file name holds that name's rows (e.g. a correction of `orders.csv` carrying only May
replaces May and leaves the other months of the older version in place). Files with different
names add up; a key present in two of them is a duplicate, and the row of the name ingested
first is kept. A version rejected by validation (under the same contracts and thresholds)
does not count, so the previous version stays in force.
"""

from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError
from pipelines.storage import read_json, write_json

Entry = dict[str, Any]
NAME = "_manifest.json"
RECOVER = (
    "restore it from a backup; without one, move the raw zone aside and ingest every drop "
    "again (then validate --full)"
)


def load(raw: Path) -> list[Entry]:
    entries = read_json(raw / NAME, [], RECOVER)
    if not isinstance(entries, list):
        raise PipelineError(f"{raw / NAME} is not a manifest (a JSON list): {RECOVER}")
    return entries


def save(entries: list[Entry], raw: Path) -> None:
    write_json(entries, raw / NAME)


def find(entries: list[Entry], digest: str) -> Entry | None:
    return next((e for e in entries if e["sha256"] == digest), None)


def short(entry: Entry) -> str:
    """The version's id, also the name of its Parquet file in each month partition."""
    return entry["sha256"][:16]


def months(entry: Entry) -> dict[str, int | None]:
    """Rows per month partition (manifests written before rows were counted hold a list)."""
    parts = entry.get("partitions") or {}
    return parts if isinstance(parts, dict) else dict.fromkeys(parts)


def accepted(entry: Entry, fingerprint: str, rejected: Set[str] = frozenset()) -> bool:
    """Ingested, and not rejected by a validation under the same contract (nor in `rejected`,
    the versions a validation under way has just rejected)."""
    check = entry.get("validation") or {}
    refused = check.get("outcome") == "rejected" and check.get("fingerprint") == fingerprint
    return entry["outcome"] == "ingested" and not refused and short(entry) not in rejected


def in_force(
    entries: list[Entry], table: str, fingerprint: str, rejected: Set[str] = frozenset()
) -> dict[str, list[Entry]]:
    """Month -> the versions whose rows count, the name ingested first first."""
    mine = [e for e in entries if e["table"] == table and accepted(e, fingerprint, rejected)]
    seniority = {e["file"]: i for i, e in reversed(list(enumerate(mine)))}
    newest: dict[tuple[str, str], Entry] = {}
    for entry in mine:  # later entries overwrite earlier ones: the newest version wins
        for month in months(entry):
            newest[(month, entry["file"])] = entry
    by_month: dict[str, list[Entry]] = {}
    for (month, _name), entry in sorted(newest.items(), key=lambda kv: seniority[kv[0][1]]):
        by_month.setdefault(month, []).append(entry)
    return dict(sorted(by_month.items()))


def months_with_data(entries: list[Entry], table: str) -> set[str]:
    return {
        m for e in entries if e["table"] == table and e["outcome"] == "ingested" for m in months(e)
    }


def with_validation(entries: list[Entry], records: Mapping[str, dict[str, Any]]) -> list[Entry]:
    """A copy of the entries, each version in `records` (by its id) carrying its record."""
    return [{**e, "validation": records[short(e)]} if short(e) in records else e for e in entries]
