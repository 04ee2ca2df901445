"""The pipeline's promises on every domain's slice: nothing lost between raw and validated,
every view's offline table equals a brute-force reading of its declaration over the event
table it reads, and every example carries its time, label and the moment its label is known."""

import json
import math
from dataclasses import replace
from datetime import datetime

import polars as pl
import pytest

from larder import EVENT_TIMESTAMP, ObservedView, StaticView, WindowedView, mean
from pipelines import jobs, transform
from pipelines.errors import PipelineError
from tests.pipelines.window_reference import prepare, reference

PROBES = 60  # moments per view checked against the brute force


@pytest.fixture(scope="module")
def events(domain_platform) -> dict[str, pl.DataFrame]:
    domain = domain_platform.domain
    tables = transform.derive(domain, jobs.inputs(domain, domain_platform.validated, None))
    return {name: frame.collect() for name, frame in tables.items()}


def test_every_row_is_validated_or_quarantined_with_a_reason(domain_platform) -> None:
    entries = json.loads((domain_platform.raw / "_manifest.json").read_text())
    for entry in entries:
        record = entry["validation"]
        assert record["outcome"] == "validated", entry["file"]
        assert record["validated"] + record["quarantined"] == entry["rows"], entry["file"]
    for name in domain_platform.domain.sources:
        bad = sorted((domain_platform.quarantine / name).glob("*/*.parquet"))
        if bad:
            reasons = pl.read_parquet(bad)
            assert reasons.select("rule", "column", "value").null_count().row(0) == (0, 0, 0)


def _table(domain_platform, view) -> pl.DataFrame:
    return pl.read_parquet(domain_platform.offline / f"{view.name}.parquet")


def _latest(table: pl.DataFrame, keys: list[str], key: tuple, t: datetime) -> dict | None:
    mine = table.filter(
        pl.all_horizontal(pl.col(k) == v for k, v in zip(keys, key, strict=True))
        & (pl.col(EVENT_TIMESTAMP) <= t)
    )
    return mine.sort(EVENT_TIMESTAMP).row(-1, named=True) if mine.height else None


def _probes(rows: pl.DataFrame, view) -> list[tuple[tuple, datetime]]:
    """Moments where values change (a counted event), keyed, a spread sample."""
    keys = list(view.entities)
    where = getattr(view, "where", None)
    kept = rows.filter(pl.sql_expr(where)) if where else rows
    kept = kept.drop_nulls([*keys, view.timestamp])
    sample = kept.gather_every(max(1, kept.height // PROBES))
    return [(tuple(r[k] for k in keys), r[view.timestamp]) for r in sample.iter_rows(named=True)]


def _same(a, b) -> bool:
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    if any(missing):
        return all(missing)
    return a == b or (isinstance(a, float) and math.isclose(a, b, rel_tol=1e-12))


def test_windowed_views_equal_the_brute_force_reference(domain_platform, events) -> None:
    for view in domain_platform.domain.windowed():
        table = _table(domain_platform, view)
        rows = prepare(events[view.source], view)
        for key, t in _probes(events[view.source], view):
            got = _latest(table, list(view.entities), key, t)
            want = reference(rows, view, key, t)
            assert got is not None, (view.name, key, t)
            for name, value in want.items():
                assert _same(got[name], value), (view.name, key, t, name)


def test_observed_and_static_views_are_their_sources_rows(domain_platform, events) -> None:
    for view in domain_platform.domain.views.values():
        if isinstance(view, WindowedView):
            continue
        table = _table(domain_platform, view)
        source = events[view.source]
        keys = list(view.entities)
        if isinstance(view, StaticView):
            assert table.height == source.select(keys).unique().height
            continue
        assert isinstance(view, ObservedView)
        for key, t in _probes(source, view):
            got = _latest(table, keys, key, t)
            mine = source.filter(
                pl.all_horizontal(pl.col(k) == v for k, v in zip(keys, key, strict=True))
                & (pl.col(view.timestamp) == t)
            ).row(0, named=True)
            for feature, (column, _) in view.columns.items():
                assert _same(got[feature], mine[column]), (view.name, key, t, feature)


def test_every_example_has_its_time_label_and_label_time(domain_platform) -> None:
    task = domain_platform.domain.task
    examples = pl.read_parquet(domain_platform.offline / f"{task.examples}.parquet")
    assert examples.height > 300
    for column in (task.time, task.label, task.label_known_at):
        assert examples[column].null_count() == 0, column
    assert (examples[task.label_known_at] >= examples[task.time] - task.lead).all()
    assert examples.select(task.key).is_duplicated().sum() == 0


def test_a_view_that_cannot_be_computed_is_named(domain_platform) -> None:
    domain = domain_platform.domain
    view = domain.windowed()[0]
    broken = replace(view, aggregations=(mean("typo_mean", "no_such_column"),))
    odd = replace(domain, views={**domain.views, view.name: broken})
    with pytest.raises(PipelineError, match=rf"view '{view.name}' on '{view.source}' cannot be"):
        jobs.feature_tables(
            odd, domain_platform.validated, jobs.event_months(domain, domain_platform.validated)
        )


def test_a_derivation_that_raises_is_named(domain_platform) -> None:
    domain = domain_platform.domain
    step = next(iter(domain.derivations.values()))

    def broken(**frames: pl.LazyFrame) -> pl.LazyFrame:
        raise TypeError("unsupported operand")

    odd = replace(
        domain, derivations={**domain.derivations, step.name: replace(step, function=broken)}
    )
    with pytest.raises(
        PipelineError, match=rf"derivation '{step.name}' failed: TypeError: unsupported"
    ):
        transform.derive(odd, jobs.inputs(domain, domain_platform.validated, None))
