"""The entity frame: every example once, in the table's order, keyed for Feast, at its
prediction time, with its label and when the label became known."""

from pathlib import Path

import pandas as pd
import pytest

from training.errors import DataError, MissingInputError
from training.examples import (
    LABEL,
    LABEL_KNOWN_AT,
    MISSING_KEY,
    ROW_ID,
    TIMESTAMP,
    check_examples,
    entity_frame,
    read_examples,
)
from training.frames import entities_for, get_service, open_store
from training.settings import TrainingSettings


def test_one_row_per_example_in_table_order(settings, examples, entities):
    task = settings.task
    assert len(entities) == len(examples) > 300
    assert entities[ROW_ID].tolist() == list(range(len(examples)))
    assert entities[LABEL].tolist() == examples[task.label].astype(int).tolist()
    assert (entities[LABEL_KNOWN_AT] == examples[task.label_known_at]).all()


def test_rows_sit_at_the_prediction_time_in_utc(settings, examples, entities):
    assert str(entities[TIMESTAMP].dtype) == "datetime64[us, UTC]"
    assert (examples[settings.task.time] - entities[TIMESTAMP] == settings.task.lead).all()


def test_examples_without_a_text_key_keep_their_row(settings, examples):
    task = settings.task
    key = next(c for c in task.key if examples[c].dtype == object)
    some = examples.copy()
    some.loc[[3, 5], key] = None
    frame = entity_frame(some, task, [key], [])
    assert len(frame) == len(some)
    assert frame.loc[[3, 5], key].tolist() == [MISSING_KEY] * 2


def test_missing_table_says_how_to_build_it(settings: TrainingSettings, tmp_path: Path):
    with pytest.raises(MissingInputError, match="python -m pipelines"):
        read_examples(tmp_path / "examples.parquet", settings.task)


def test_a_table_without_its_label_is_refused(settings: TrainingSettings, examples):
    with pytest.raises(DataError, match=settings.task.label):
        check_examples(examples.drop(columns=[settings.task.label]), settings.task, Path("x"))


def test_the_missing_key_mark_cannot_alias_a_real_key(settings: TrainingSettings, examples):
    task = settings.task
    key = next(c for c in task.key if examples[c].dtype == object)
    some = examples.copy()
    some.loc[0, key] = MISSING_KEY
    with pytest.raises(DataError, match="missing-key mark"):
        entity_frame(some, task, [key], [])


def test_entity_frame_ignores_the_input_index(settings, examples, entities):
    store = open_store(settings.feature_repo)
    service = get_service(store, settings.service)
    shuffled = examples.copy()
    shuffled.index = shuffled.index[::-1]
    pd.testing.assert_frame_equal(entities_for(store, service, shuffled, settings.task), entities)
