"""The peer: the declared windowed views computed the usual pandas way (groupby + rolling).

Same rows as the Polars job (every event, every window expiry, every local midnight after an
event) and the same aggregations, so the two outputs can be compared value for value; sums are
pandas' float rolling sums.
"""

import numpy as np
import pandas as pd


def _where(frame: pd.DataFrame, sql: str | None) -> pd.Series:
    """The few SQL conditions the declarations use, as pandas expressions."""
    if sql is None:
        return pd.Series(True, index=frame.index)
    expr = sql.replace(" IS NOT NULL", ".notna()").replace(" IS NULL", ".isna()")
    expr = expr.replace("NOT ", "~").replace(" AND ", " & ").replace(" OR ", " | ")
    return frame.eval(expr).fillna(False).astype(bool)


def _per_moment(events: pd.DataFrame, view) -> pd.DataFrame:
    keys = list(view.entities)
    rows = events[_where(events, view.where)].dropna(subset=[*keys, view.timestamp])
    rows = rows.assign(_t=rows[view.timestamp], _n=1)
    agg: dict[str, tuple[str, str]] = {"_n": ("_n", "sum")}
    for i, a in enumerate(view.aggregations):
        if a.kind in ("total", "mean"):
            agg[f"_s{i}"], agg[f"_c{i}"] = (a.column, "sum"), (a.column, "count")
        elif a.kind == "share":
            rows[f"_if{i}"] = _where(rows, a.where).astype("int64")
            agg[f"_q{i}"] = (f"_if{i}", "sum")
        elif a.kind in ("minimum", "maximum", "last"):
            agg[f"_v{i}"] = (a.column, "min" if a.kind == "minimum" else "max")
    return rows.groupby([*keys, "_t"], as_index=False).agg(**agg)


def _moments(partial: pd.DataFrame, view) -> pd.DataFrame:
    keys = list(view.entities)
    shifted = [partial[[*keys, "_t"]]]
    for length in view.lengths().values():
        if length is None:
            local = partial["_t"].dt.tz_convert(view.day_zone).dt.tz_localize(None)
            midnight = local.dt.normalize() + pd.Timedelta(days=1)
            nxt = midnight.dt.tz_localize(view.day_zone).dt.tz_convert("UTC")
            nxt = nxt.astype(partial["_t"].dtype)
            shifted.append(partial[keys].assign(_t=nxt))
        else:
            shifted.append(partial[keys].assign(_t=partial["_t"] + length))
    moments = pd.concat(shifted, ignore_index=True).drop_duplicates()
    frame = moments.merge(partial, on=[*keys, "_t"], how="left")
    frame = frame.sort_values([*keys, "_t"], kind="stable").reset_index(drop=True)
    if None in view.lengths().values():  # only `today` windows read the local day
        frame["_day"] = frame["_t"].dt.tz_convert(view.day_zone).dt.date
    return frame


def _sliding(frame: pd.DataFrame, keys: list[str], cols: list[str], length, how: str):
    # one group number per entity, ascending in the frame's (keys, time) order, so the result
    # (indexed by group and time) lines up with the frame's rows
    group = frame.groupby(keys, sort=False).ngroup()
    rolled = frame.assign(_g=group).groupby("_g").rolling(length, on="_t", closed="right")[cols]
    return getattr(rolled, how)().reset_index(drop=True)


def compute(events: pd.DataFrame, view) -> pd.DataFrame:
    keys = list(view.entities)
    frame = _moments(_per_moment(events, view), view)
    additive = [c for c in frame.columns if c[:2] in ("_n", "_s", "_c", "_q")]
    frame[additive] = frame[additive].fillna(0)
    extremes = {i: a for i, a in enumerate(view.aggregations) if a.kind in ("minimum", "maximum")}
    lasts = [i for i, a in enumerate(view.aggregations) if a.kind == "last"]
    if lasts:
        events_only = frame.loc[frame["_n"] > 0, [*keys, "_t", *(f"_v{i}" for i in lasts)]]
        latest = events_only.rename(columns={"_t": "_lt", **{f"_v{i}": f"_lv{i}" for i in lasts}})
        frame = pd.merge_asof(
            frame.sort_values("_t"), latest.sort_values("_lt"), left_on="_t", right_on="_lt",
            by=keys, direction="backward",
        ).sort_values([*keys, "_t"], kind="stable").reset_index(drop=True)  # fmt: skip
    out = frame[[*keys, "_t"]].rename(columns={"_t": "event_timestamp"})
    for w, length in view.lengths().items():
        if length is None:
            day = frame.groupby([*keys, "_day"], sort=False)
            sums = day[additive].cumsum()
            groups = [frame[k] for k in [*keys, "_day"]]
            ext = {i: getattr(day[f"_v{i}"], "cummin" if a.kind == "minimum" else "cummax")()
                   .groupby(groups).ffill() for i, a in extremes.items()}  # fmt: skip
            fresh = {i: frame["_lt"].dt.tz_convert(view.day_zone).dt.date == frame["_day"]
                     for i in lasts}  # fmt: skip
        else:
            sums = _sliding(frame, keys, additive, length, "sum")
            ext = {i: _sliding(frame, keys, [f"_v{i}"], length,
                               "min" if a.kind == "minimum" else "max")[f"_v{i}"]
                   for i, a in extremes.items()}  # fmt: skip
            fresh = {i: frame["_lt"] > frame["_t"] - length for i in lasts}
        n = sums["_n"]
        for i, a in enumerate(view.aggregations):
            name = f"{a.name}_{w}"
            if a.kind == "count":
                out[name] = n.astype("int64").to_numpy()
            elif a.kind == "total":
                out[name] = sums[f"_s{i}"].to_numpy()
            elif a.kind == "mean":
                c = sums[f"_c{i}"].to_numpy()
                out[name] = np.where(c > 0, sums[f"_s{i}"].to_numpy() / np.maximum(c, 1), np.nan)
            elif a.kind == "share":
                out[name] = np.where(n > 0, sums[f"_q{i}"].to_numpy() / np.maximum(n, 1), np.nan)
            elif a.kind in ("minimum", "maximum"):
                out[name] = ext[i].to_numpy()
            else:
                out[name] = frame[f"_lv{i}"].where(fresh[i]).to_numpy()
    return out
