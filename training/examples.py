"""Examples: the task's offline examples table as entity rows at their prediction times.

A row carries a `row_id` (to join Feast's answer back in this order), the FeatureService's
join keys and request fields (what `/predict` takes), `event_timestamp` (the prediction
time, `time - lead`: features are looked up then), the `label` (0 or 1), the moment the label
became known (`label_known_at`), and the baseline's column.
"""

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from larder import Task
from training.errors import DataError, MissingInputError

ROW_ID = "row_id"
TIMESTAMP = "event_timestamp"
LABEL = "label"
LABEL_KNOWN_AT = "label_known_at"
# A string join key an example lacks (an aircraft with no tail number): Feast finds no rows for
# it, so that entity's features come back null while the example keeps its row.
MISSING_KEY = "__missing__"
UTC_US = "datetime64[us, UTC]"


def read_examples(path: Path, task: Task, known_by: datetime | None = None) -> pd.DataFrame:
    """The offline examples table, checked as it crosses into training; with `known_by` (the
    data's watermark), only the examples whose label was known by then: a label due after the
    data ends is not known yet, whatever the derivation made of the missing future."""
    if not path.is_file():
        raise MissingInputError(
            f"no offline examples table at {path}: build the offline store first "
            "(`python -m pipelines run`, or set LARDER_FEATURE_REPO to a built domain)"
        )
    examples = pd.read_parquet(path)
    check_examples(examples, task, path)
    if known_by is not None:
        examples = examples[examples[task.label_known_at] <= known_by].reset_index(drop=True)
    return examples


def check_examples(examples: pd.DataFrame, task: Task, source: Path) -> None:
    needed = [*task.key, task.time, task.label, task.label_known_at, task.baseline.column]
    missing = sorted(set(needed) - set(examples.columns))
    if missing:
        raise DataError(f"{source} lacks column(s) {missing}: rebuild it with the pipelines")
    for col in (task.time, task.label_known_at):
        if str(examples[col].dtype) != UTC_US:
            raise DataError(f"{source}: {col} is {examples[col].dtype}, expected UTC microseconds")
    nulls = [c for c in (task.time, task.label, task.label_known_at) if examples[c].isna().any()]
    if nulls:
        raise DataError(f"{source}: null values in {nulls}; every example needs them")
    if not examples[task.label].astype("int64").isin([0, 1]).all():
        raise DataError(f"{source}: the label {task.label!r} holds values other than 0 and 1")


def entity_frame(
    examples: pd.DataFrame, task: Task, keys: list[str], requested: list[str]
) -> pd.DataFrame:
    """One row per example, in the table's order: row_id, the join `keys`, event_timestamp,
    the `requested` fields, then label, label_known_at and the baseline's column."""
    examples = examples.reset_index(drop=True)
    absent = sorted(set(keys + requested) - set(examples.columns))
    if absent:
        raise DataError(
            f"the examples of task {task.name!r} lack {absent}, which the FeatureService "
            "needs as join keys or request fields: add them in the examples' derivation"
        )
    frame = pd.DataFrame({ROW_ID: np.arange(len(examples), dtype="int64")})
    for key in keys:
        frame[key] = _filled(examples[key], key)
    frame[TIMESTAMP] = examples[task.time] - task.lead
    for name in requested:
        if name not in frame.columns:
            frame[name] = examples[name]
    frame[LABEL] = examples[task.label].astype("int64")
    frame[LABEL_KNOWN_AT] = examples[task.label_known_at]
    if task.baseline.column not in frame.columns:
        frame[task.baseline.column] = examples[task.baseline.column]
    return frame


def _filled(values: pd.Series, key: str) -> pd.Series:
    """A string key's missing values as MISSING_KEY (a key of another type must be complete)."""
    if values.dtype == object or str(values.dtype).startswith("string"):
        if (values == MISSING_KEY).any():
            raise DataError(f"a real {key} equals the platform's missing-key mark {MISSING_KEY!r}")
        return values.fillna(MISSING_KEY)
    if values.isna().any():
        raise DataError(f"join key {key!r} is missing in {int(values.isna().sum())} examples")
    return values


def entity_columns(keys: list[str], requested: list[str]) -> list[str]:
    """What goes to Feast of an entity frame: row_id, keys, the timestamp, request fields."""
    return [ROW_ID, *keys, TIMESTAMP, *[r for r in requested if r not in keys]]
