"""A data-quality report per batch (one ingested file version): JSON for machines, a short text
summary and an HTML page (per-column completeness, validity, uniqueness, freshness and an
inline-SVG histogram per numeric column, the rules broken and the warnings: rows kept though
they break a rule declared as a warning) for people. Pure functions, frame in, dict or str out.
"""

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.storage import write_json, write_text

BINS = 20


def _validity(reasons: pl.DataFrame) -> dict[str, int]:
    """Rows flagged per column (a rule about several columns counts for each)."""
    if reasons.is_empty():
        return {}
    per = reasons.select("_row", pl.col("column").str.split(",")).explode("column").unique()
    return dict(per.group_by("column").len().iter_rows())


def histogram(values: pl.Series) -> dict[str, list[float]] | None:
    finite = values.cast(pl.Float64).filter(values.cast(pl.Float64).is_finite())
    if finite.is_empty():
        return None
    low, high = float(finite.min()), float(finite.max())  # type: ignore[arg-type]
    width = (high - low) / BINS or 1.0
    bins = ((finite - low) / width).floor().clip(0, BINS - 1).cast(pl.Int32)
    counts = dict(bins.value_counts().iter_rows())
    return {
        "edges": [low + i * width for i in range(BINS + 1)],
        "counts": [counts.get(i, 0) for i in range(BINS)],
    }


def column_profile(frame: pl.DataFrame, name: str, flagged: int) -> dict[str, Any]:
    col = frame[name]
    present = frame.height - col.null_count()
    profile: dict[str, Any] = {
        "dtype": str(col.dtype),
        "completeness": present / frame.height if frame.height else None,
        "validity": 1 - flagged / frame.height if frame.height else None,
        "uniqueness": col.drop_nulls().n_unique() / present if present else None,
    }
    if col.dtype.is_numeric():
        finite = col.cast(pl.Float64).filter(col.cast(pl.Float64).is_finite())
        profile.update(min=finite.min(), max=finite.max(), mean=finite.mean())
        profile["histogram"] = histogram(col)
    return profile


def freshness(frame: pl.DataFrame, dropped_at: Any) -> dict[str, Any]:
    stamps = [n for n, t in frame.schema.items() if isinstance(t, pl.Datetime)]
    out = {}
    for name in stamps:
        newest, oldest = frame[name].max(), frame[name].min()
        lag = (dropped_at - newest).total_seconds() / 3600 if newest and dropped_at else None
        out[name] = {"oldest": oldest, "newest": newest, "hours_from_newest_to_drop": lag}
    return out


def build(
    frame: pl.DataFrame,
    reasons: pl.DataFrame,
    header: dict[str, Any],
    dropped_at: Any = None,
    warnings: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The report of one batch: `frame` holds its rows, `reasons` its quarantine reasons,
    `warnings` the rows per warning rule (rows kept)."""
    flagged = _validity(reasons)
    rules = dict(reasons.group_by("rule").len().sort("len", descending=True).iter_rows())
    return {
        **header,
        "rules": rules,
        "warnings": dict(sorted((warnings or {}).items(), key=lambda kv: -kv[1])),
        "columns": {n: column_profile(frame, n, flagged.get(n, 0)) for n in frame.columns},
        "freshness": freshness(frame, dropped_at),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def text(report: dict[str, Any]) -> str:
    head = (
        f"{report['table']} {report['file']} (version {report['version']}): {report['outcome']}; "
        f"{report['rows_in']} rows in = {report['validated']} validated + "
        f"{report['quarantined']} quarantined ({_pct(report['bad_share'])} bad)"
    )
    lines = [head] + ([f"reason: {report['reason']}"] if report.get("reason") else [])
    lines += [f"  rule {rule}: {n} rows" for rule, n in list(report["rules"].items())[:10]]
    warned = report.get("warnings", {}).items()
    lines += [f"  warning {rule}: {n} rows (kept)" for rule, n in warned]
    worst = sorted(report["columns"].items(), key=lambda kv: kv[1]["completeness"] or 0)[:5]
    lines += [f"  least complete: {n} {_pct(p['completeness'])}" for n, p in worst]
    for name, f in report["freshness"].items():
        lines.append(f"  freshness {name}: {f['oldest']} .. {f['newest']}")
    return "\n".join(lines) + "\n"


def svg_histogram(hist: dict[str, list[float]] | None, width: int = 240, height: int = 60) -> str:
    if not hist:
        return ""
    top = max(hist["counts"]) or 1
    bar = width / len(hist["counts"])
    rects = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - height * c / top:.1f}" width="{bar - 1:.1f}" '
        f'height="{height * c / top:.1f}" fill="#4a7bb7"><title>{c}</title></rect>'
        for i, c in enumerate(hist["counts"])
    )
    low, high = hist["edges"][0], hist["edges"][-1]
    label = f"{_num(low)} .. {_num(high)}"
    caption = f'<text y="{height + 12}" font-size="10">{label}</text>'
    return f'<svg width="{width}" height="{height + 14}">{rects}{caption}</svg>'


def _num(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else str(x)


def html_page(report: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{p['dtype']}</td><td>{_pct(p['completeness'])}</td>"
        f"<td>{_pct(p['validity'])}</td><td>{_pct(p['uniqueness'])}</td>"
        f"<td>{svg_histogram(p.get('histogram'))}</td></tr>"
        for n, p in report["columns"].items()
    )
    rules = "".join(f"<li>{html.escape(r)}: {n}</li>" for r, n in report["rules"].items())
    warned = "".join(
        f"<li>{html.escape(r)}: {n}</li>" for r, n in report.get("warnings", {}).items()
    )
    fresh = "".join(
        f"<li>{n}: {f['oldest']} .. {f['newest']} "
        f"({_num(f['hours_from_newest_to_drop'] or math.nan)} h before the drop)</li>"
        for n, f in report["freshness"].items()
    )
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(report['file'])}</title>"
        "<style>body{font:14px sans-serif}"
        "td,th{padding:2px 8px;border-bottom:1px solid #ddd}</style>"
        f"<h1>{html.escape(report['table'])}: {html.escape(report['file'])}</h1>"
        f"<pre>{html.escape(text(report))}</pre><h2>Broken rules</h2><ul>{rules}</ul>"
        f"<h2>Warnings (rows kept)</h2><ul>{warned}</ul>"
        f"<h2>Freshness</h2><ul>{fresh}</ul><h2>Columns</h2><table><tr><th>column</th>"
        "<th>type</th><th>completeness</th><th>validity</th><th>uniqueness</th>"
        f"<th>histogram</th></tr>{rows}</table>"
    )


def write(report: dict[str, Any], folder: Path) -> Path:
    """report.json, report.txt and report.html in `folder`; returns the HTML page's path."""
    write_json(report, folder / "report.json")
    write_text(text(report), folder / "report.txt")
    return write_text(html_page(report), folder / "report.html")
