"""The world the replay simulates: what happened, released to the platform only as it becomes
known.

The world holds the domain's source tables (its sample data, or a folder of files named
after its tables) and knows when every row became known: a source's `known_at` derivation
says (say, a row is known when its event ends), else its `time` (an observation, when made);
tables with neither are reference tables, known from the start. It also knows, by running the
domain's derivations over everything, each example's prediction time and the rows of every
view fed by a push source. The platform never reads the world: it gets drops written into
its landing folder, each holding exactly the rows that became known in the drop's interval,
pushes of the rows made in the last hour, and prediction requests that carry only the
request's fields.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from larder import EVENT_TIMESTAMP, Source
from larder.domain import Domain
from pipelines import ingest, sample, transform
from pipelines.readers import ISSUES, WHOLE_ROW
from pipelines.storage import write_text

KNOWN = "_known_at"
PREDICTED = "_prediction_time"


@dataclass(frozen=True)
class World:
    domain: Domain
    tables: dict[str, pl.DataFrame]  # raw columns; timed tables with their `_known_at`
    examples: pl.DataFrame  # the task's examples over the whole world, with `_prediction_time`
    pushed: dict[str, pl.DataFrame]  # push source -> the rows of the views it feeds

    def released(self, name: str, start: datetime, end: datetime) -> pl.DataFrame:
        """The rows of a timed table that became known in (start, end], raw columns only: a row
        known at the batch's moment is in it, as Feast counts a row at t as known at t."""
        source = self.domain.sources[name]
        known = self.tables[name].filter(pl.col(KNOWN).is_between(start, end, closed="right"))
        return known.select(list(source.schema))

    def made(self, push_source: str, after: datetime, upto: datetime) -> pl.DataFrame:
        """The rows a push at `upto` carries: those made in (after, upto]."""
        rows = self.pushed[push_source]
        return rows.filter(pl.col(EVENT_TIMESTAMP).is_between(after, upto, closed="right"))

    def schedule(self, start: datetime, end: datetime) -> pl.DataFrame:
        """The examples to predict in [start, end), by prediction time."""
        due = self.examples.filter(pl.col(PREDICTED).is_between(start, end, closed="left"))
        return due.sort(PREDICTED, *self.domain.task.key)


def load_world(domain: Domain, folder: Path, pushed_views: dict[str, list[str]]) -> World:
    """Read the source tables once; every row gets the moment it became known.

    `pushed_views`: push source -> the views it feeds (from the Feast registry)."""
    raw = {name: _read(folder, source, domain.sources) for name, source in domain.sources.items()}
    lazy = {name: frame.lazy() for name, frame in raw.items()}
    derived = transform.derive(domain, lazy)
    tables = {name: _known(domain.sources[name], frame, derived) for name, frame in raw.items()}
    task = domain.task
    examples = (
        derived[task.examples]
        .collect()
        .with_columns((pl.col(task.time) - task.lead).alias(PREDICTED))
    )
    pushed = {
        source: pl.concat(
            [transform.view_table(domain.views[v], derived).collect() for v in views],
            how="diagonal_relaxed",
        )
        for source, views in pushed_views.items()
    }
    return World(domain, tables, examples.filter(pl.col(PREDICTED).is_not_null()), pushed)


def _known(source: Source, frame: pl.DataFrame, derived: dict[str, pl.LazyFrame]) -> pl.DataFrame:
    if source.known_at is not None:
        made = derived[source.known_at.derivation.name].collect()
        when = made.select(*source.key, pl.col(source.known_at.column).alias(KNOWN))
        return frame.join(when, on=list(source.key), how="left", maintain_order="left")
    if source.time is not None:
        return frame.with_columns(pl.col(source.time).alias(KNOWN))
    return frame


def _read(folder: Path, source: Source, sources: Mapping[str, Source]) -> pl.DataFrame:
    files = ingest.landing_files(folder, sources)
    mine = [p for p in files if ingest.table_for(p, sources) is source]
    if not mine:
        raise FileNotFoundError(
            f"the replay's world has no {source.name} file in {folder}: point it at a folder "
            "holding every source table"
        )
    frames = [_readable(ingest.read_source(source, path)) for path in mine]
    # one row per key, as validation keeps it: a repeated key would be sent twice
    return pl.concat(frames).unique(list(source.key), keep="first", maintain_order=True)


def _readable(frame: pl.DataFrame) -> pl.DataFrame:
    """Without the lines ingest could not read as rows (they would be all-null rows here)."""
    if ISSUES not in frame.columns:
        return frame
    whole = pl.col(ISSUES).list.eval(pl.element().struct.field("column") == WHOLE_ROW)
    return frame.filter(~whole.list.any().fill_null(False)).drop(ISSUES)


def world_folder(domain: Domain, landing: Path | None, scratch: Path) -> Path:
    """The folder the world is read from: `landing`, else the domain's sample data."""
    return landing or sample.lay_out(domain, scratch)


def write_drop(world: World, start: datetime, end: datetime, folder: Path) -> list[Path]:
    """The drop of (start, end]: one file per timed table, named by the interval (an empty
    interval writes no file)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
    written = []
    for source in world.domain.timed_sources():
        rows = world.released(source.name, start, end)
        if rows.height:
            written.append(write_csv(rows, folder / f"{source.name}_{stamp}.csv"))
    return written


def write_references(world: World, folder: Path) -> list[Path]:
    """The reference tables (no time: known from the start) as the source has them."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_csv(world.tables[s.name], folder / f"{s.name}.csv")
        for s in world.domain.sources.values()
        if s.is_reference
    ]


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """In the landing zone's CSV dialect: ISO times with `Z`, `NA` for missing values."""
    times = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
    text = frame.with_columns(pl.col(times).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return write_text(text.write_csv(null_value="NA"), path)
