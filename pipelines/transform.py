"""Transform: validated tables in, the offline store's tables out (Polars frames, no I/O here).

The domain's derivations turn source tables into event tables; each declared view becomes one
table of keys, `event_timestamp` and features: windowed views through the window engine
(`pipelines/windows.py`), observed views as their source's rows, static views as one row per
entity. The task's examples are a derivation's output as it is.
"""

from collections.abc import Mapping

import polars as pl

from larder import EVENT_TIMESTAMP, UTC_US, ObservedView, StaticView, View, WindowedView
from larder.domain import Domain
from pipelines import windows
from pipelines.errors import PipelineError
from pipelines.windows import DTYPES


def derive(domain: Domain, inputs: Mapping[str, pl.LazyFrame]) -> dict[str, pl.LazyFrame]:
    """Every derivation's output from `inputs` (the source tables), each computed once."""
    tables: dict[str, pl.LazyFrame] = dict(inputs)

    def get(name: str, path: tuple[str, ...] = ()) -> pl.LazyFrame:
        if name in tables:
            return tables[name]
        if name in path:
            raise PipelineError(f"derivations read each other in a cycle: {' -> '.join(path)}")
        made = domain.derivations[name]
        frames = {i: get(i, (*path, name)) for i in made.inputs}
        try:
            tables[name] = made(**frames).collect().lazy()
        except PipelineError:
            raise
        except Exception as exc:  # the domain's own code: say whose it is, not a traceback
            raise PipelineError(f"derivation {name!r} failed: {type(exc).__name__}: {exc}") from exc
        return tables[name]

    for name in domain.derivations:
        get(name)
    return tables


def view_table(view: View, tables: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    """The offline table of one view: its keys, `event_timestamp`, then its features."""
    rows = tables[view.source]
    if isinstance(view, WindowedView):
        return windows.compute(rows, view)
    if isinstance(view, ObservedView):
        return observed(rows, view)
    if isinstance(view, StaticView):
        return static(rows, view)
    raise PipelineError(f"view {view.name!r}: unknown kind {type(view).__name__}")


def observed(rows: pl.LazyFrame, view: ObservedView) -> pl.LazyFrame:
    """The source's rows as the view's: one per entity and moment (the first of ties kept)."""
    keys = list(view.entities)
    return (
        rows.filter(pl.all_horizontal(pl.col([*keys, view.timestamp]).is_not_null()))
        .select(
            *keys,
            pl.col(view.timestamp).cast(UTC_US).alias(EVENT_TIMESTAMP),
            *(pl.col(c).cast(DTYPES[t]).alias(f) for f, (c, t) in view.columns.items()),
        )
        .unique([*keys, EVENT_TIMESTAMP], keep="first", maintain_order=True)
        .sort(*keys, EVENT_TIMESTAMP)
    )


def static(rows: pl.LazyFrame, view: StaticView) -> pl.LazyFrame:
    """A static view's table: one row per entity, stamped `since`."""
    return (
        rows.select(
            *view.entities,
            pl.lit(view.since).cast(UTC_US).alias(EVENT_TIMESTAMP),
            *(pl.col(c).cast(DTYPES[t]).alias(f) for f, (c, t) in view.columns.items()),
        )
        .unique(list(view.entities), keep="first")
        .sort(*view.entities)
    )


def examples(domain: Domain, tables: Mapping[str, pl.LazyFrame]) -> pl.DataFrame:
    """The task's examples, checked: every row has its time, label and label time."""
    task = domain.task
    frame = tables[task.examples].collect()
    needed = [*task.key, task.time, task.label, task.label_known_at]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise PipelineError(
            f"the examples of task {task.name!r} (derivation {task.examples!r}) lack column(s) "
            f"{missing}"
        )
    nulls = [c for c in (task.time, task.label, task.label_known_at) if frame[c].null_count()]
    if nulls:
        raise PipelineError(
            f"derivation {task.examples!r} gave examples with no {nulls} "
            f"({frame[nulls[0]].null_count()} rows): every example needs them; fix the "
            "derivation, or a contract rule that quarantines such rows"
        )
    return frame
