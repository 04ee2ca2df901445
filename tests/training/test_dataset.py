"""Training frames as datasets: validated against the service, fingerprinted, saved, re-read."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.dataset import fingerprint, load_frame, save_frame, validate_frame
from training.errors import DataError


def test_validation_reports_the_share_missing_per_feature(frame: pd.DataFrame, schema):
    missing = validate_frame(frame, schema)
    assert list(missing) == list(schema)
    assert missing["distance_miles"] == 0.0
    assert missing["wind_gust"] == pytest.approx(frame["wind_gust"].isna().mean())


def test_validation_refuses_missing_columns_and_wrong_types(frame: pd.DataFrame, schema):
    with pytest.raises(DataError, match=r"lacks column\(s\) \['temp'\]"):
        validate_frame(frame.drop(columns=["temp"]), schema)
    with pytest.raises(DataError, match="flights_7d.*Int64 but holds fractions"):
        validate_frame(frame.assign(flights_7d=frame["flights_7d"] + 0.5), schema)
    with pytest.raises(DataError, match="Feast String"):
        validate_frame(frame, {**schema, "temp": "String"})


def test_fingerprint_follows_content_not_identity(frame: pd.DataFrame):
    assert fingerprint(frame.copy()) == fingerprint(frame)
    changed = frame.copy()
    changed.loc[changed.index[0], "temp"] = np.nan
    assert fingerprint(changed) != fingerprint(frame)


def test_saved_frame_reads_back_identical_and_detects_edits(frame: pd.DataFrame, tmp_path: Path):
    path = save_frame(frame, tmp_path)
    assert path.stem == fingerprint(frame) and save_frame(frame, tmp_path) == path
    pd.testing.assert_frame_equal(load_frame(path), frame.reset_index(drop=True))
    frame.head(3).to_parquet(path, index=False)
    with pytest.raises(DataError, match="does not match its fingerprint"):
        load_frame(path)
