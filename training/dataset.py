"""A training frame as a dataset: validated against the FeatureService, fingerprinted, saved.

The fingerprint is a sha256 of the frame's content (column names, dtypes and values, in row
order), so the same examples and the same feature rows give the same fingerprint wherever they
were built; a saved frame is named by it and re-checked when it is read back.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from training.errors import DataError, MissingInputError
from training.examples import LABEL, LABEL_KNOWN_AT, ROW_ID, TIMESTAMP

# Feast types training can feed to the model as float64 (NaN for missing), and as categories.
NUMERIC_TYPES = {"Int32", "Int64", "Float32", "Float64", "Bool"}
INTEGER_TYPES = {"Int32", "Int64", "Bool"}
CATEGORICAL_TYPES = {"String"}


def validate_frame(frame: pd.DataFrame, schema: dict[str, str]) -> dict[str, float]:
    """Check columns and types against the service; the share of missing values per feature."""
    needed = [ROW_ID, TIMESTAMP, LABEL, LABEL_KNOWN_AT, *schema]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"the training frame lacks column(s) {missing}")
    for name, feast_type in schema.items():
        _check_feature(frame[name], name, feast_type)
    if not frame[LABEL].isin([0, 1]).all():
        raise DataError(f"the label {LABEL!r} holds values other than 0 and 1")
    return {name: float(frame[name].isna().mean()) for name in schema}


def _check_feature(values: pd.Series, name: str, feast_type: str) -> None:
    if feast_type in CATEGORICAL_TYPES:
        strings = values.dropna().map(type).eq(str).all()
        if values.dtype != object or not strings:
            raise DataError(f"feature {name!r} is a Feast {feast_type} but holds non-strings")
        return
    if feast_type not in NUMERIC_TYPES:
        raise DataError(
            f"feature {name!r} is a Feast {feast_type}: the model takes numbers and strings "
            "(as categories) only; encode it in the feature job or leave it out of the "
            "FeatureService"
        )
    if values.dtype != "float64":
        raise DataError(f"feature {name!r} is {values.dtype} in the frame, expected float64")
    known = values.dropna().to_numpy()
    if feast_type in INTEGER_TYPES and not np.array_equal(known, np.round(known)):
        raise DataError(f"feature {name!r} is a Feast {feast_type} but holds fractions")


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and a per-row hash of the values, in order."""
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}:{dtype};".encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def save_frame(frame: pd.DataFrame, folder: Path) -> Path:
    """`folder/<fingerprint>.parquet`, written then renamed so a crash leaves no half file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{fingerprint(frame)}.parquet"
    if path.is_file():  # content-addressed: the same frame is already there
        return path
    partial = path.with_suffix(".parquet.partial")
    frame.to_parquet(partial, index=False)
    os.replace(partial, path)
    return path


def load_frame(path: Path) -> pd.DataFrame:
    """A saved frame, refused if its content no longer matches the fingerprint in its name."""
    if not path.is_file():
        raise MissingInputError(f"no saved training frame at {path}")
    frame = pd.read_parquet(path)
    if fingerprint(frame) != path.stem:
        raise DataError(f"{path} does not match its fingerprint: it was changed after saving")
    return frame
