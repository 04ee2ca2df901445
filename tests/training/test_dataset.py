"""Training frames as datasets: validated against the service, fingerprinted, saved, re-read."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.dataset import fingerprint, load_frame, save_frame, validate_frame
from training.errors import DataError


def _of_type(schema: dict[str, str], kind: str) -> str:
    return next(name for name, t in schema.items() if t == kind)


def test_validation_reports_the_share_missing_per_feature(frame: pd.DataFrame, schema):
    missing = validate_frame(frame, schema)
    assert list(missing) == list(schema)
    for name in schema:
        assert missing[name] == pytest.approx(frame[name].isna().mean())


def test_validation_refuses_missing_columns_and_wrong_types(frame: pd.DataFrame, schema):
    whole, real = _of_type(schema, "Int64"), _of_type(schema, "Float64")
    with pytest.raises(DataError, match=rf"lacks column\(s\) \['{real}'\]"):
        validate_frame(frame.drop(columns=[real]), schema)
    with pytest.raises(DataError, match=f"{whole}.*Int64 but holds fractions"):
        validate_frame(frame.assign(**{whole: frame[whole].fillna(0) + 0.5}), schema)
    with pytest.raises(DataError, match="Feast String"):
        validate_frame(frame, {**schema, real: "String"})


def test_fingerprint_follows_content_not_identity(frame: pd.DataFrame, schema):
    assert fingerprint(frame.copy()) == fingerprint(frame)
    changed = frame.copy()
    real = _of_type(schema, "Float64")
    changed.loc[changed.index[0], real] = -1.5 if pd.isna(frame[real].iloc[0]) else np.nan
    assert fingerprint(changed) != fingerprint(frame)


def test_saved_frame_reads_back_identical_and_detects_edits(frame: pd.DataFrame, tmp_path: Path):
    path = save_frame(frame, tmp_path)
    assert path.stem == fingerprint(frame) and save_frame(frame, tmp_path) == path
    pd.testing.assert_frame_equal(load_frame(path), frame.reset_index(drop=True))
    frame.head(3).to_parquet(path, index=False)
    with pytest.raises(DataError, match="does not match its fingerprint"):
        load_frame(path)
