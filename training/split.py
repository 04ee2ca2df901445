"""The time split of a training frame: train < validation_start <= validation < test_start <=
test, by prediction time, with a gap for labels that are known only later: a row trains (or
calibrates) only if its label was known before the next part starts, so nothing learnt can have
seen the validation (or test) period."""

from dataclasses import dataclass

import pandas as pd

from larder import TimeSplit
from training.errors import SplitError
from training.examples import LABEL, LABEL_KNOWN_AT, TIMESTAMP


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def split_by_time(frame: pd.DataFrame, split: TimeSplit) -> Split:
    at, known = frame[TIMESTAMP], frame[LABEL_KNOWN_AT]
    start, test = split.validation_start, split.test_start
    parts = Split(
        train=frame[(at < start) & (known < start)],
        validation=frame[(at >= start) & (at < test) & (known < test)],
        test=frame[at >= test],
    )
    for name, part in parts.parts().items():
        if part[LABEL].nunique() < 2:
            raise SplitError(
                f"the {name} split holds {len(part)} rows with {part[LABEL].nunique()} "
                "outcome(s): move LARDER_VALIDATION_START / LARDER_TEST_START (or the task's "
                "split) so each part has both"
            )
    return parts
