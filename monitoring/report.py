"""The replay's reports: one static HTML page per period and one for the whole replay, charts
embedded as PNG (matplotlib), each with its JSON beside it."""

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from pipelines.storage import write_json, write_text  # noqa: E402

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
    ".bad{color:#b00;font-weight:600}img{max-width:100%}"
)


# -- JSON + pages ---------------------------------------------------------------------------


def write_period(folder: Path, period: dict) -> Path:
    name = f"period-{period['period'] + 1:02d}"
    write_json(period, folder / "periods" / f"{name}.json")
    return _write_html(folder / "periods" / f"{name}.html", f"Period {period['period'] + 1}",
                       period_body(period))  # fmt: skip


def write_summary(folder: Path, summary: dict) -> Path:
    headline = headline_figures(summary)
    write_json({"headline": headline, **summary}, folder / "summary.json")
    return _write_html(folder / "index.html", "Replay", summary_body(summary, headline))


def _write_html(path: Path, title: str, body: str) -> Path:
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>"
    )
    return write_text(page, path)


# -- the headline -----------------------------------------------------------------------------


def headline_figures(summary: dict) -> dict:
    periods = summary["periods"]
    aucs = [p["realized"]["roc_auc"] for p in periods if p["realized"]["roc_auc"] is not None]
    decisions = [p["decision"] for p in periods]
    retrains = [d for d in decisions if d["retrain"]]
    skew_rows = sum(p["skew"]["rows"] for p in periods)
    return {
        "periods": len(periods),
        "predictions": sum(p["realized"]["predictions"] for p in periods),
        "period_auc_min": min(aucs) if aucs else None,
        "period_auc_max": max(aucs) if aucs else None,
        "drift_detections": sum(len(p["verdict"]["drifted"]) for p in periods),
        "periods_alarmed": sum(p["verdict"]["alarm"] for p in periods),
        "periods_alarmed_before": sum(p["before"]["alarm"] for p in periods),
        **_alarm_figures(summary.get("alarms")),
        "retrains": len(retrains),
        "promotions": sum(d.get("outcome", {}).get("action") == "promote" for d in retrains),
        "held_by_cooldown": sum(bool(d["triggers"]) and not d["retrain"] for d in decisions),
        "skew_rate": (
            sum(p["skew"]["rate"] * p["skew"]["rows"] for p in periods) / skew_rows
            if skew_rows
            else None
        ),
        "minutes": summary["seconds"] / 60,
    }


def _alarm_figures(scored: dict | None) -> dict:
    """Precision and recall of the drift alarm (and of the rule before it) against the periods
    that worsened, and the best operating point on the curve."""
    if not scored:
        return {}
    out = {"periods_worsened": scored["alarm"]["worsened_periods"]}
    for name in ("alarm", "before"):
        found = scored[name]
        out[f"{name}_precision"] = found["precision"]
        out[f"{name}_recall"] = found["recall"]
    best = scored.get("best")
    if best:
        how = "or the probabilities drifted" if best["with_predictions"] else "alone"
        out["best_operating_point"] = (
            f"weighted share >= {best['share']:.2f} {how}: precision {_num(best['precision'], 2)}, "
            f"recall {_num(best['recall'], 2)}, {best['alarmed_periods']} periods alarmed"
        )
    return out


# -- the summary page -------------------------------------------------------------------------


def summary_body(summary: dict, headline: dict) -> str:
    periods = summary["periods"]
    rows = [
        [
            f"<a href='periods/period-{p['period'] + 1:02d}.html'>{p['start'][:10]}</a>",
            p["realized"]["predictions"],
            _num(p["realized"]["roc_auc"]),
            _num(p["realized"]["brier"]),
            f"{len(p['verdict']['drifted'])} ({p['verdict']['weighted']:.0%})",
            _flag(p["verdict"]["alarm"]),
            _worsened(summary, p["period"]),
            f"{p['skew']['rate']:.1%}",
            "v" + p["champion"],
            _decision(p["decision"]),
        ]
        for p in periods
    ]
    return (
        _kv(headline)
        + _img(auc_chart(periods))
        + _img(drift_heatmap(periods))
        + _img(health_chart(periods))
        + "<h2>Periods</h2>"
        + _table(
            [
                "period",
                "predictions",
                "AUC",
                "Brier",
                "drifted (share of importance)",
                "alarm",
                "worsened",
                "skew",
                "champion",
                "decision",
            ],
            rows,
        )  # fmt: skip
    )


def _worsened(summary: dict, k: int) -> str:
    truth = summary.get("alarms", {}).get("worsened")
    if truth is None or truth[k] is None:
        return "not scored"
    return _flag(truth[k])


def _decision(d: dict) -> str:
    if d["retrain"]:
        r = d.get("outcome", {})
        return html.escape(f"retrain -> v{r.get('challenger')}: {r.get('action')}")
    return html.escape("; ".join(d["reasons"]))[:160]


def auc_chart(periods: list[dict]) -> bytes:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    x = list(range(1, len(periods) + 1))
    auc = [p["realized"]["roc_auc"] for p in periods]
    top.plot(x, [a if a is not None else float("nan") for a in auc], "o-", label="realized AUC")
    test = [p["champion_test_auc"] for p in periods]
    top.plot(x, [t if t is not None else float("nan") for t in test], "--",
             label="champion's test AUC (offline features)")  # fmt: skip
    bottom.plot(x, [_nan(p["realized"]["brier"]) for p in periods], "o-", label="Brier")
    bottom.plot(x, [_nan(p["realized"]["mean_probability"]) for p in periods], label="mean p")
    bottom.plot(x, [_nan(p["realized"]["positive_rate"]) for p in periods], label="positive rate")
    for p in periods:
        d = p["decision"]
        if d["retrain"]:
            promoted = d.get("outcome", {}).get("action") == "promote"
            for ax in (top, bottom):
                ax.axvline(p["period"] + 1, color="green" if promoted else "orange", ls=":")
    top.set(ylabel="ROC AUC", title="Realized performance (dotted: retrain; green: promoted)")
    bottom.set(xlabel="period", ylabel="share")
    top.legend(fontsize=8)
    bottom.legend(fontsize=8)
    return _png(fig)


def drift_heatmap(periods: list[dict]) -> bytes:
    names = [d["feature"] for d in periods[0]["drift"]] if periods else []
    grid = [[_nan(d["psi"]) for d in p["drift"]] for p in periods]
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(names) + 1.5))
    if names:
        image = ax.imshow(list(map(list, zip(*grid, strict=True))), aspect="auto",
                          cmap="Reds", vmin=0, vmax=1)  # fmt: skip
        fig.colorbar(image, ax=ax, label="PSI (0.2: drift, with the test)")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xticks(range(len(periods)), [str(i + 1) for i in range(len(periods))])
    ax.set(xlabel="period", title="Drift per feature: PSI against each period's reference")
    return _png(fig)


def health_chart(periods: list[dict]) -> bytes:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    x = list(range(1, len(periods) + 1))
    left.plot(x, [100 * p["skew"]["rate"] for p in periods], "o-", label="skew (% cells)")
    left.plot(x, [_nan(p["serving"]["latency_p99_ms"]) for p in periods], label="p99 ms")
    left.plot(x, [_nan(p["serving"]["latency_p50_ms"]) for p in periods], label="p50 ms")
    left.set(xlabel="period", title="Skew and latency")
    left.legend(fontsize=8)
    views = [f["view"] for f in periods[0]["freshness"]] if periods else []
    for i, view in enumerate(views):
        right.plot(x, [_nan(p["freshness"][i]["age_hours"]) for p in periods], label=view)
    right.set(xlabel="period", ylabel="hours", title="Age of the newest online value at period end")
    right.legend(fontsize=8)
    return _png(fig)


# -- a period's page --------------------------------------------------------------------------


def period_body(p: dict) -> str:
    r = p["realized"]
    drift_rows = [
        [d["feature"], d["kind"], d["current_rows"], _num(d["psi"]), _num(d["js"]),
         _num(d["wasserstein"]), _num(d["p_value"], 6), _flag(d["drifted"]),
         html.escape(d["reason"])]
        for d in p["drift"]
    ]  # fmt: skip
    skew_rows = [
        [name, f["mismatches"], f"{f['rate']:.1%}", html.escape(json.dumps(f["causes"]))]
        for name, f in p["skew"]["features"].items()
    ]
    fresh_rows = [
        [f["view"], f["newest"], _num(f["age_hours"], 1), _num(f["ttl_hours"], 1),
         _flag(not f["fresh"])]
        for f in p["freshness"]
    ]  # fmt: skip
    decision = p["decision"]
    return (
        f"<p>{p['start']} to {p['end']}; champion v{p['champion']}.</p>"
        + "<h2>Realized performance</h2>"
        + _kv({k: v for k, v in r.items() if k != "calibration"})
        + _table(["predicted p", "rows", "mean predicted", "observed rate"],
                 [[c["bin"], c["rows"], _num(c["predicted"]), _num(c["observed"])]
                  for c in r["calibration"]])  # fmt: skip
        + f"<h2>Drift against {html.escape(p['reference'])}</h2>"
        + _kv({"verdict": p["verdict"]["reason"],
               "calendar shift (not judged)": ", ".join(p["verdict"]["calendar_shift"]),
               "prediction drift": p["prediction_drift"]["reason"],
               "expected Brier shift": p["verdict"]["expected_brier_shift"],
               "before (training rows, effect sizes alone)":
                   f"{len(p['before']['drifted'])} drifted, alarm {p['before']['alarm']}"})
        + _table(["feature", "kind", "served rows", "PSI", "JS", "Wasserstein", "p", "drifted",
                  "reason"], drift_rows)  # fmt: skip
        + "".join(_img(histogram_chart(h)) for h in p["histograms"])
        + f"<h2>Training/serving skew ({p['skew']['rows']} logged predictions rebuilt)</h2>"
        + _table(["feature", "mismatches", "rate", "causes"], skew_rows)
        + "<h2>Freshness</h2>"
        + _table(["view", "newest value", "age h", "ttl h", "stale"], fresh_rows)
        + "<h2>Serving</h2>"
        + _kv(p["serving"])
        + "<h2>Decision</h2>"
        + _kv({"retrain": decision["retrain"], "triggers": "; ".join(decision["triggers"]),
               "reasons": "; ".join(decision["reasons"]), **decision.get("outcome", {})})
    )  # fmt: skip


def histogram_chart(h: dict) -> bytes:
    fig, ax = plt.subplots(figsize=(10, 2.8))
    labels = h["labels"]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], h["reference"]["shares"], 0.4, label="reference")
    ax.bar([i + 0.2 for i in x], h["current"]["shares"], 0.4, label="served")
    ax.set_xticks(list(x), labels, rotation=45, ha="right", fontsize=7)
    ax.set(title=f"{h['feature']}: share of rows per bin", ylabel="share")
    ax.legend(fontsize=8)
    return _png(fig)


# -- small pieces -----------------------------------------------------------------------------


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def _img(png: bytes) -> str:
    return f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _kv(data: dict) -> str:
    rows = [[html.escape(str(k)), html.escape(_text(v))] for k, v in data.items()]
    return _table(["", ""], rows)


def _text(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _num(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _nan(value) -> float:
    return float("nan") if value is None else value


def _flag(bad: bool) -> str:
    return "<span class='bad'>yes</span>" if bad else "no"
