"""The tuning folds respect time as the split does: each validates on later examples than it
fits on, and fits only on examples whose label was known before it starts."""

import pandas as pd
import pytest

from training.errors import TrainingError
from training.examples import LABEL_KNOWN_AT, TIMESTAMP
from training.tune import time_folds


def test_each_fold_fits_only_on_labels_known_before_it_starts(frame: pd.DataFrame) -> None:
    ordered = frame.sort_values(TIMESTAMP, kind="stable")
    at, known = ordered[TIMESTAMP].to_numpy(), ordered[LABEL_KNOWN_AT].to_numpy()
    folds = time_folds(ordered, 3)
    assert len(folds) == 3
    left_out = 0
    for train, test in folds:
        start = at[test].min()
        assert (known[train] < start).all() and (at[train] <= start).all()
        assert train.max() < test.min() and len(train) > 0
        left_out += test.min() - len(train)
    assert left_out > 0  # labels come after their examples: some rows near each start go


def test_too_many_folds_for_the_label_delay_are_refused(frame: pd.DataFrame) -> None:
    ordered = frame.sort_values(TIMESTAMP, kind="stable")
    late = ordered.assign(**{LABEL_KNOWN_AT: ordered[TIMESTAMP].max() + pd.Timedelta(days=1)})
    with pytest.raises(TrainingError, match="LARDER_TUNE_FOLDS"):
        time_folds(late, 2)
