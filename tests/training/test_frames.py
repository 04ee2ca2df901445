"""Training frames: Feast's point-in-time answer joined back one row per flight, in order."""

import numpy as np
import pandas as pd
import pytest

from pipelines.settings import PipelineSettings
from training.errors import DataError, MissingInputError
from training.frames import build_training_frame, join_back, open_store
from training.labels import ROW_ID, UNKNOWN_TAILNUM, entity_frame
from training.settings import TrainingSettings


def test_schema_comes_from_the_registry_in_service_order(schema: dict[str, str]):
    names = list(schema)
    assert len(names) == 25
    assert names[0] == "flights_24h"  # aircraft_history is the service's first view
    assert names[-4:] == ["dep_hour_local", "dep_weekday", "dep_month", "distance_miles"]
    assert schema["flights_24h"] == "Int64"
    assert schema["temp"] == "Float64"


def test_one_row_per_flight_in_entity_order(
    entities: pd.DataFrame, frame: pd.DataFrame, schema: dict[str, str]
):
    assert list(frame.columns) == [*entities.columns, *schema]
    pd.testing.assert_frame_equal(frame[entities.columns], entities)
    assert (frame[list(schema)].dtypes == "float64").all()


def test_chunked_retrieval_gives_the_same_frame(
    settings: TrainingSettings, entities: pd.DataFrame, frame: pd.DataFrame
):
    chunked = settings.model_copy(update={"frame_chunk_rows": 100})  # 4 calls to Feast
    pd.testing.assert_frame_equal(build_training_frame(chunked, entities), frame)


def test_features_are_found_for_most_flights(frame: pd.DataFrame):
    # schedule features always; carrier and weather once the first hours have passed
    assert frame["distance_miles"].notna().all()
    assert frame["dep_hour_local"].between(0, 23).all()
    assert frame["carrier_flights_30d"].notna().mean() > 0.9
    assert frame["temp"].notna().mean() > 0.9


def test_unknown_aircraft_get_nulls_not_lost_rows(settings: TrainingSettings, frame: pd.DataFrame):
    flights = pd.read_parquet(settings.flights_table).iloc[200:240].copy()
    flights.iloc[::2, flights.columns.get_loc("tailnum")] = None  # the slice has no such flight
    entities = entity_frame(flights)
    built = build_training_frame(settings, entities)
    view = open_store(settings.feature_repo).get_feature_view("aircraft_history")
    aircraft = [field.name for field in view.features]
    unknown = (built["tailnum"] == UNKNOWN_TAILNUM).to_numpy()
    assert len(built) == 40 and unknown.sum() == 20
    assert built.loc[unknown, aircraft].isna().all().all()
    known = frame.iloc[200:240].reset_index(drop=True)[~unknown]
    pd.testing.assert_frame_equal(
        built[~unknown][aircraft], known[aircraft], check_index_type=False
    )
    assert built.loc[unknown, ["distance_miles", "carrier_flights_30d"]].notna().all().all()


def test_join_back_restores_entity_order():
    entities = pd.DataFrame({ROW_ID: [0, 1, 2], "tailnum": ["a", "b", "c"]})
    answer = pd.DataFrame({ROW_ID: [2, 0, 1], "x": [30, 10, 20]})
    joined = join_back(entities, answer, ["x"])
    assert joined["x"].tolist() == [10.0, 20.0, 30.0]
    assert joined["tailnum"].tolist() == ["a", "b", "c"]


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
