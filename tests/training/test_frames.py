"""Training frames: Feast's point-in-time answer joined back one row per example, in order,
with the features the FeatureService names, in its order."""

import numpy as np
import pandas as pd
import pytest

from pipelines.settings import PipelineSettings
from training.contract import service_inputs
from training.errors import DataError, MissingInputError
from training.examples import MISSING_KEY, ROW_ID
from training.frames import (
    build_training_frame,
    entities_for,
    get_service,
    join_back,
    open_store,
)
from training.settings import TrainingSettings


def test_schema_comes_from_the_registry_in_service_order(settings: TrainingSettings, schema):
    service = get_service(open_store(settings.feature_repo), settings.service)
    names = [f.name for p in service.feature_view_projections for f in p.features]
    assert list(schema) == names and len(names) > 10


def test_one_row_per_example_in_entity_order(
    entities: pd.DataFrame, frame: pd.DataFrame, schema: dict[str, str], examples: pd.DataFrame
):
    assert len(frame) == len(examples)
    assert list(frame.columns) == [*entities.columns, *schema]
    pd.testing.assert_frame_equal(frame[entities.columns], entities)
    numbers = [n for n, kind in schema.items() if kind != "String"]
    strings = [n for n, kind in schema.items() if kind == "String"]
    assert (frame[numbers].dtypes == "float64").all()
    assert all(frame[n].dtype == "object" for n in strings)
    assert all(isinstance(v, str) for n in strings for v in frame[n].dropna())


def test_entity_rows_carry_the_services_keys_and_request_fields(settings, entities):
    store = open_store(settings.feature_repo)
    keys, requested = service_inputs(store, get_service(store, settings.service))
    assert set(keys + requested) <= set(entities.columns)
    assert entities[keys].notna().all().all()


def test_chunked_retrieval_gives_the_same_frame(
    settings: TrainingSettings, examples: pd.DataFrame, frame: pd.DataFrame
):
    chunked = settings.model_copy(update={"frame_chunk_rows": len(examples) // 3 + 1})
    pd.testing.assert_frame_equal(build_training_frame(chunked, examples), frame)


def test_features_are_found_for_most_examples(frame: pd.DataFrame, schema):
    found = frame[list(schema)].notna().mean()
    assert (found > 0.5).sum() >= len(schema) * 0.6, found.sort_values().head()


def test_unknown_entities_get_nulls_not_lost_rows(
    settings: TrainingSettings, examples: pd.DataFrame, frame: pd.DataFrame
):
    store = open_store(settings.feature_repo)
    service = get_service(store, settings.service)
    keys, _ = service_inputs(store, service)
    key = next(k for k in keys if examples[k].dtype == object)  # a text key to lose
    some = examples.iloc[100:140].copy()
    some.iloc[::2, some.columns.get_loc(key)] = None
    built = build_training_frame(settings, some)
    view = next(
        store.get_feature_view(p.name)
        for p in service.feature_view_projections
        if p.name in {v.name for v in store.list_feature_views()}
        and key in [c.name for c in store.get_feature_view(p.name).entity_columns]
    )
    mine = [f.name for f in view.features]
    unknown = (built[key] == MISSING_KEY).to_numpy()
    assert len(built) == 40 and unknown.sum() == 20
    assert built.loc[unknown, mine].isna().all().all()
    known = frame.iloc[100:140].reset_index(drop=True)[~unknown]
    pd.testing.assert_frame_equal(built[~unknown][mine], known[mine], check_index_type=False)


def test_entities_for_a_service_need_its_inputs(settings, examples):
    store = open_store(settings.feature_repo)
    keys, _ = service_inputs(store, get_service(store, settings.service))
    with pytest.raises(DataError, match=keys[0]):
        entities_for(
            store,
            get_service(store, settings.service),
            examples.drop(columns=keys[0]),
            settings.task,
        )


def test_join_back_restores_entity_order():
    entities = pd.DataFrame({ROW_ID: [0, 1, 2], "k": ["a", "b", "c"]})
    answer = pd.DataFrame({ROW_ID: [2, 0, 1], "x": [30, 10, 20]})
    joined = join_back(entities, answer, ["x"])
    assert joined["x"].tolist() == [10.0, 20.0, 30.0]
    assert joined["k"].tolist() == ["a", "b", "c"]


@pytest.mark.parametrize("ids", [[0, 1], [0, 1, 1], [0, 1, 7]])
def test_join_back_refuses_anything_but_one_answer_per_row(ids: list[int]):
    entities = pd.DataFrame({ROW_ID: [0, 1, 2]})
    answer = pd.DataFrame({ROW_ID: ids, "x": np.zeros(len(ids))})
    with pytest.raises(DataError, match="one to one"):
        join_back(entities, answer, ["x"])


def test_join_back_refuses_a_missing_feature():
    entities = pd.DataFrame({ROW_ID: [0]})
    with pytest.raises(DataError, match=r"\['y'\]"):
        join_back(entities, pd.DataFrame({ROW_ID: [0], "x": [1.0]}), ["x", "y"])


def test_repo_never_applied_says_to_apply(fresh_platform: PipelineSettings):
    with pytest.raises(MissingInputError, match="pipelines apply"):
        open_store(fresh_platform.feature_repo)
