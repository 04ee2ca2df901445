"""The model that is logged, registered and served: LightGBM's trees over the task's inputs, with
the categorical encoding and the sigmoid calibration inside it.

Nothing is re-encoded by hand at serving time: a category is turned into the code the trees
were grown on by the model itself, from the categories it was fitted with (which the model's
contract also records). A category the model never saw is answered as a missing value (the
trees' own route for it) and counted, not refused.

Every consumer calls the same public methods: `predict_proba(frame)` for a DataFrame (training,
promotion, monitoring), `encode_rows` then `proba` for a handful of dict rows (serving): for
a model of 400 trees, about 0.06 ms for one row (training/lightgbm_rows.py: LightGBM's
one-row path, without its fixed cost per call) and 5 ms for 100 (bench/inference_bench.py
compares ONNX Runtime). The booster is kept as LightGBM's text model, so a saved model holds
no pickled LightGBM object.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

# Up to this many rows, one thread answers faster than OpenMP can start a team (and leaves the
# other core to the server's other worker).
ONE_THREAD_ROWS = 512


class Encoding:
    """The model's inputs in order, and for each categorical one the categories it knows: a
    category's code is its index in `categories[name]`; missing and unseen values are NaN."""

    def __init__(self, inputs: Sequence[str], categories: Mapping[str, Sequence[str]]) -> None:
        self.inputs = list(inputs)
        self.categories = {name: list(values) for name, values in categories.items()}
        self._codes = {
            name: {value: float(code) for code, value in enumerate(values)}
            for name, values in self.categories.items()
        }
        self._columns = [(name, self._codes.get(name)) for name in self.inputs]
        self._numeric = [name for name, codes in self._columns if codes is None]
        self._numeric_positions = [i for i, (_, codes) in enumerate(self._columns) if codes is None]
        self._categorical = [
            (i, name, codes) for i, (name, codes) in enumerate(self._columns) if codes is not None
        ]

    @classmethod
    def learn(
        cls, frame: pd.DataFrame, inputs: Sequence[str], keys: Sequence[str] = ()
    ) -> "Encoding":
        """Categorical: the `keys` named and every string column; their categories are the
        distinct values of `frame` (the training rows), sorted."""
        categorical = [
            name
            for name in inputs
            if name in keys
            or pd.api.types.is_object_dtype(frame[name])
            or pd.api.types.is_string_dtype(frame[name])
        ]
        return cls(
            inputs,
            {n: sorted(str(v) for v in frame[n].dropna().unique()) for n in categorical},
        )

    @property
    def positions(self) -> list[int]:
        """The column indices of the categorical inputs (what LightGBM is told)."""
        return [i for i, name in enumerate(self.inputs) if name in self.categories]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The frame's inputs as the float64 matrix the trees read."""
        columns = []
        for name, codes in self._columns:
            values = frame[name]
            if codes is None:
                columns.append(pd.to_numeric(values, errors="raise").to_numpy(np.float64))
            else:
                text = values.astype("string")
                columns.append(text.map(codes).to_numpy(np.float64, na_value=np.nan))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, list[str]]:
        """Dict rows as the matrix the trees read, and the input of each unseen category.

        Numbers go through one NumPy conversion (None becomes NaN there); only the categorical
        columns are looked up value by value."""
        numeric = self._numeric
        matrix = np.empty((len(rows), len(self.inputs)), dtype=np.float64)
        if numeric:
            block = np.array([[row.get(n) for n in numeric] for row in rows], dtype=np.float64)
            matrix[:, self._numeric_positions] = block.reshape(len(rows), len(numeric))
        unseen = []
        for i, name, codes in self._categorical:
            for r, row in enumerate(rows):
                value = row.get(name)
                if value is None:
                    matrix[r, i] = np.nan
                    continue
                code = codes.get(value if isinstance(value, str) else str(value))
                if code is None:
                    unseen.append(name)
                    code = np.nan
                matrix[r, i] = code
        return matrix, unseen

    def unseen(self, frame: pd.DataFrame) -> dict[str, int]:
        """Per categorical input, how many of the frame's values the model never saw."""
        counts = {}
        for name, known in self.categories.items():
            values = frame[name].astype("string")
            counts[name] = int((values.notna() & ~values.isin(known)).sum())
        return counts


class CalibratedBooster:
    """P(label) = sigmoid(slope * margin + intercept), the margin from LightGBM's trees over
    the encoded inputs."""

    classes_ = np.array([0, 1])

    def __init__(self, encoding: Encoding, model_text: str, slope: float, intercept: float) -> None:
        self.inputs = encoding.inputs
        self.categories = encoding.categories
        self.model_text = model_text
        self.slope = float(slope)
        self.intercept = float(intercept)
        self._load()

    def _load(self) -> None:
        import lightgbm

        from training.lightgbm_rows import RowMargins

        self.encoding = Encoding(self.inputs, self.categories)
        self._booster = lightgbm.Booster(model_str=self.model_text)
        self._rows = RowMargins(self._booster, len(self.inputs))

    def __getstate__(self) -> dict[str, Any]:
        # plain values only: what skops stores and vets
        return {
            "inputs": self.inputs,
            "categories": self.categories,
            "model_text": self.model_text,
            "slope": self.slope,
            "intercept": self.intercept,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._load()

    @property
    def trees(self) -> int:
        return int(self._booster.num_trees())

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        if len(matrix) == 1:  # a server's usual call: LightGBM's one-row path, same answer
            return np.array([self._rows.margin(matrix[0])])
        threads = 1 if len(matrix) <= ONE_THREAD_ROWS else 0  # 0: OpenMP's default
        return np.asarray(
            self._booster.predict(matrix, raw_score=True, num_threads=threads), dtype=np.float64
        )

    def proba(self, matrix: np.ndarray) -> np.ndarray:
        """P(positive label) per row of an encoded matrix."""
        return expit(self.slope * self.margin(matrix) + self.intercept)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.proba(self.encoding.encode(frame))
        return np.column_stack([1.0 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.proba(self.encoding.encode(frame)) >= 0.5).astype(np.int64)


def fit(
    booster: Any,
    encoding: Encoding,
    train: pd.DataFrame,
    labels: pd.Series,
    validation: pd.DataFrame,
    validation_labels: pd.Series,
) -> CalibratedBooster:
    """Grow `booster` (an LGBMClassifier) on the training rows, then fit the sigmoid on its
    margins over the validation rows (Platt scaling, by logistic regression on one input)."""
    from sklearn.linear_model import LogisticRegression

    booster.fit(encoding.encode(train), labels, categorical_feature=encoding.positions)
    text = booster.booster_.model_to_string()
    raw = CalibratedBooster(encoding, text, 1.0, 0.0).margin(encoding.encode(validation))
    sigmoid = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), validation_labels)
    return CalibratedBooster(
        encoding, text, float(sigmoid.coef_[0, 0]), float(sigmoid.intercept_[0])
    )
