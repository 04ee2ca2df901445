"""One-row predictions through LightGBM's C API fast path, which Python's `Booster.predict`
does not offer.

`Booster.predict` builds a predictor and parses its parameters on every call: for one row that
fixed cost is most of the time (0.13 ms against 0.06 ms here for 400 trees). LightGBM's C API
has `LGBM_BoosterPredictForMatSingleRowFastInit`, which does that once, and
`LGBM_BoosterPredictForMatSingleRowFast`, which then walks the trees for one row of float64
values. Both are public in LightGBM's c_api.h; reaching them from Python takes the package's
private names `lightgbm.basic._LIB`, `_safe_call`, `_c_str` and `Booster._handle`, kept here
only and pinned by tests/training/test_lightgbm_rows.py, which fails naming the one that
changed when a LightGBM upgrade moves them. The answers are the same float64 values
`Booster.predict(raw_score=True)` gives (the same trees walked by the same code).
"""

import ctypes
import threading
from typing import Any

import numpy as np

RAW_SCORE = 1  # C_API_PREDICT_RAW_SCORE
FLOAT64 = 1  # C_API_DTYPE_FLOAT64


class RowMargins:
    """The raw score (margin) of one row at a time, for one booster. One call at a time: a
    fast config holds the buffers of its row, so calls from several threads take turns."""

    def __init__(self, booster: Any, columns: int) -> None:
        from lightgbm.basic import _LIB, _c_str, _safe_call

        self._lib, self._check = _LIB, _safe_call
        self._booster = booster  # kept alive as long as the config that points into it
        self._columns = columns
        self._config = ctypes.c_void_p()
        self._check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(RAW_SCORE),
                ctypes.c_int(0),  # from the first iteration
                ctypes.c_int(-1),  # through the last
                ctypes.c_int(FLOAT64),
                ctypes.c_int32(columns),
                _c_str("num_threads=1"),
                ctypes.byref(self._config),
            )
        )
        self._out = np.zeros(1, dtype=np.float64)
        self._out_pointer = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64()
        self._lock = threading.Lock()

    def margin(self, row: np.ndarray) -> float:
        """The margin of one row of `columns` values (float64; NaN is missing)."""
        row = np.ascontiguousarray(row, dtype=np.float64)
        if row.shape != (self._columns,):
            raise ValueError(f"a row of {self._columns} values, not of shape {row.shape}")
        with self._lock:
            self._check(
                self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                    self._config,
                    row.ctypes.data_as(ctypes.c_void_p),
                    ctypes.byref(self._out_len),
                    self._out_pointer,
                )
            )
            return float(self._out[0])

    def __del__(self) -> None:
        config = getattr(self, "_config", None)
        if config is not None and config.value:
            self._lib.LGBM_FastConfigFree(config)
            config.value = None
