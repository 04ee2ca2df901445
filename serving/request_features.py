"""On-demand features: computed per request by the on-demand view's own transformation, as
the registry holds it (never a copy of it).

An on-demand view reads request fields (parsed here by the types its request sources
declare) and, optionally, features of feature views (read by the online reader first, as
plain feature names, as Feast gives them). `python` mode views take and return columns as
lists (the fast path: no DataFrame); `pandas` mode views a DataFrame; a `singleton` python view
is called once per row.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feast import OnDemandFeatureView
from feast.types import Float32, Float64, Int32, Int64, UnixTimestamp

from serving.errors import BadReadError, ServingError

Rows = dict[str, list[Any]]


@dataclass(frozen=True)
class RequestTransform:
    """Parses an on-demand view's request columns by their declared types, then runs it."""

    view: OnDemandFeatureView
    inputs: dict[str, Any]  # request column: Feast type

    def __call__(
        self, entities: Mapping[str, Sequence[Any]], rows: int, features: Mapping[str, list]
    ) -> Rows:
        """The view's features for `rows` rows, from the request's `entities` columns and the
        source views' `features` (plain names)."""
        columns = {name: _parse(name, kind, entities[name]) for name, kind in self.inputs.items()}
        try:
            return own_transformation(self.view, {**features, **columns}, rows)
        except ServingError:
            raise
        except Exception as exc:  # the domain's code, on what the request gave it
            raise BadReadError(
                f"on-demand view {self.view.name!r} cannot compute its features from the "
                f"request: {type(exc).__name__}: {exc}"
            ) from exc


def request_transform(view: OnDemandFeatureView) -> RequestTransform:
    inputs = {
        f.name: f.dtype for source in view.source_request_sources.values() for f in source.schema
    }
    return RequestTransform(view, inputs)


def sources(view: OnDemandFeatureView) -> dict[str, list[str]]:
    """The feature views an on-demand view reads: view name -> its features it is given."""
    return {
        projection.name: [f.name for f in projection.features]
        for projection in view.source_feature_view_projections.values()
    }


def own_transformation(
    view: OnDemandFeatureView, columns: Mapping[str, list[Any]], rows: int
) -> Rows:
    """The view's own transformation, its outputs typed as its schema declares."""
    transformation = view.feature_transformation
    if transformation is None:
        raise ServingError(f"on-demand view {view.name!r} has no transformation of its own to run")
    udf = transformation.udf
    if view.mode == "python" and view.singleton:
        one = [udf({k: v[i] for k, v in columns.items()}) for i in range(rows)]
        out = {f.name: [row[f.name] for row in one] for f in view.features}
    elif view.mode == "python":
        out = udf(dict(columns))
    else:
        out = _pandas(udf, columns)
    return {f.name: [_typed(v, f.dtype) for v in list(out[f.name])] for f in view.features}


def _pandas(udf: Any, columns: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    import pandas as pd

    frame = pd.DataFrame(
        {
            name: pd.to_datetime(values, utc=True) if _is_time(values) else values
            for name, values in columns.items()
        }
    )
    result = udf(frame)
    return {name: result[name].tolist() for name in result.columns}


def _is_time(values: list[Any]) -> bool:
    return bool(values) and isinstance(values[0], datetime)


def _typed(value: Any, kind: Any) -> Any:
    if value is None or value != value:  # NaN
        return None
    if kind in (Int64, Int32):
        return int(value)
    if kind in (Float64, Float32):
        return float(value)
    return value


def _parse(name: str, kind: Any, values: Sequence[Any]) -> list[Any]:
    return [_parse_one(name, i, kind, v) for i, v in enumerate(values)]


def _parse_one(name: str, i: int, kind: Any, value: Any) -> Any:
    if kind == UnixTimestamp:
        return _moment(name, i, value)
    if kind in (Int64, Int32) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if (
        kind in (Float64, Float32)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return value
    if kind not in (Int64, Int32, Float64, Float32):
        return value
    raise BadReadError(f"entities.{name}[{i}] is {value!r}, not a {kind}")


def _moment(name: str, i: int, value: Any) -> datetime:
    """Epoch seconds or ISO-8601; a time without a zone is UTC."""
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise BadReadError(
            f"entities.{name}[{i}] is {value!r}: give epoch seconds or an ISO-8601 time"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
