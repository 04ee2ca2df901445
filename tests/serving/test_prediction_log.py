"""The prediction log's files: one column per record field and per feature's value and status,
the union over the batch's records (a reload changes the features mid-batch), null where a
record lacks one, numbers as floats, every other value as it was."""

import json
from datetime import UTC, datetime

import pyarrow.parquet as pq

from serving.prediction_log import PredictionLog


def _record(i: int, features: dict) -> dict:
    """A record as the server makes it: its features as names, values, statuses."""
    names = tuple(features)
    return {
        "request_id": f"r{i}",
        "logged_at": datetime(2013, 6, 1, 12, i, tzinfo=UTC),
        "model_name": "m",
        "model_version": str(1 + i % 2),
        "probability": 0.25 * (i % 4),
        "latency_ms": 1.5,
        "prediction_time": datetime(2013, 6, 1, 10, i, tzinfo=UTC),
        "entities": {"carrier": "UA", "at": datetime(2013, 6, 1, 12, tzinfo=UTC)},
        "features": (
            names,
            tuple(features[n][0] for n in names),
            tuple(features[n][1] for n in names),
        ),
    }


def test_a_batch_is_written_column_by_column_as_its_records_say(tmp_path) -> None:
    records = [
        _record(0, {"flights": (3, "present"), "engine": ("Turbo-fan", "present")}),
        _record(1, {"flights": (None, "not_found"), "late": (True, "present")}),
        _record(2, {"flights": (2.5, "present"), "age": (None, "outside_max_age")}),
    ]
    _written_as_recorded(tmp_path, records, ("flights", "engine", "late", "age"))


def test_a_batch_of_one_model_is_written_alike(tmp_path) -> None:
    features = [
        {"flights": (3, "present"), "late": (True, "present"), "engine": (None, "not_found")},
        {"flights": (None, "not_found"), "late": (False, "present"), "engine": ("Jet", "present")},
        {"flights": (7, "present"), "late": (None, "outside_max_age"), "engine": (None, "x")},
    ]
    records = [_record(i, f) for i, f in enumerate(features)]
    _written_as_recorded(tmp_path, records, ("flights", "late", "engine"))


def _written_as_recorded(tmp_path, records: list[dict], names: tuple[str, ...]) -> None:
    log = PredictionLog(tmp_path)
    for record in records:
        log.append(record)
    path = log.flush()
    assert path is not None and log.flush() is None  # written once, then nothing buffered
    rows = pq.read_table(path).to_pylist()
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        for field in ("request_id", "model_version", "probability", "logged_at"):
            assert row[field] == record[field]
        assert json.loads(row["entities"]) == {"carrier": "UA", "at": "2013-06-01 12:00:00+00:00"}
        names_, values, statuses = record["features"]
        recorded = dict(zip(names_, zip(values, statuses, strict=True), strict=True))
        for name in names:
            value, status = recorded.get(name, (None, None))
            assert row[f"status.{name}"] == status
            assert row[f"value.{name}"] == value
            assert type(row[f"value.{name}"]) is (float if type(value) is int else type(value))
