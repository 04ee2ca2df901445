"""The entity frame: every flight once, in the table's order, keyed for Feast."""

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from training.errors import DataError, MissingInputError
from training.labels import (
    ENTITY_COLUMNS,
    LABEL,
    ROW_ID,
    TIMESTAMP,
    UNKNOWN_TAILNUM,
    check_flights,
    entity_frame,
    read_flights,
)
from training.settings import TrainingSettings


def test_one_row_per_flight_in_table_order(settings: TrainingSettings, entities: pd.DataFrame):
    flights = pd.read_parquet(settings.flights_table)
    assert len(entities) == len(flights) == 367
    assert entities[ROW_ID].tolist() == list(range(len(flights)))
    assert entities["flight"].tolist() == flights["flight"].tolist()
    assert entities[LABEL].tolist() == flights["late"].astype(int).tolist()
    assert set(ENTITY_COLUMNS) <= set(entities.columns)


def test_rows_sit_at_the_prediction_time_in_utc(entities: pd.DataFrame):
    assert str(entities[TIMESTAMP].dtype) == "datetime64[us, UTC]"
    lead = entities["scheduled_departure"] - entities[TIMESTAMP]
    assert (lead == timedelta(hours=2)).all()


def test_flights_without_tail_number_keep_their_row(settings: TrainingSettings):
    flights = pd.read_parquet(settings.flights_table)
    flights.loc[[3, 5], "tailnum"] = None  # the week's slice has none; the year has 2,512
    entities = entity_frame(flights)
    assert len(entities) == len(flights)
    assert entities.loc[[3, 5], "tailnum"].tolist() == [UNKNOWN_TAILNUM] * 2
    assert entities["tailnum"].notna().all()


def test_missing_table_says_how_to_build_it(tmp_path: Path):
    with pytest.raises(MissingInputError, match="python -m pipelines"):
        read_flights(tmp_path / "flights.parquet")


def test_table_without_label_is_refused(settings: TrainingSettings):
    flights = pd.read_parquet(settings.flights_table).drop(columns=[LABEL])
    with pytest.raises(DataError, match="late"):
        check_flights(flights, settings.flights_table)


def test_sentinel_cannot_alias_a_real_aircraft(settings: TrainingSettings):
    flights = pd.read_parquet(settings.flights_table)
    flights.loc[0, "tailnum"] = UNKNOWN_TAILNUM
    with pytest.raises(DataError, match="sentinel"):
        check_flights(flights, settings.flights_table)


def test_entity_frame_ignores_the_input_index(entities: pd.DataFrame, settings: TrainingSettings):
    flights = pd.read_parquet(settings.flights_table)
    flights.index = flights.index[::-1]
    pd.testing.assert_frame_equal(entity_frame(flights), entities)
