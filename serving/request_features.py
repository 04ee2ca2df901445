"""On-demand (request-time) features: the ODFV's own transformation, or a row-wise twin of it.

Feast runs a pandas ODFV through a DataFrame, about a millisecond even for one row. For the
views listed in `TWINS` the server runs a plain-Python twin instead; a property test checks
each twin against the ODFV's own transformation on random inputs. Any other ODFV runs its own
transformation. ODFVs that read feature views (not only the request) are not served here.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from feast import OnDemandFeatureView
from feast.types import Float32, Float64, Int32, Int64, UnixTimestamp

from serving.errors import BadReadError

NEW_YORK = ZoneInfo("America/New_York")
Rows = dict[str, list[Any]]


def flight_schedule(scheduled_departure: list[datetime], distance: list[int]) -> Rows:
    """Twin of feature_repo's `flight_schedule`: local hour, weekday, month, distance."""
    local = [moment.astimezone(NEW_YORK) for moment in scheduled_departure]
    return {
        "dep_hour_local": [t.hour for t in local],
        "dep_weekday": [t.weekday() for t in local],
        "dep_month": [t.month for t in local],
        "distance_miles": [float(d) for d in distance],
    }


TWINS: dict[str, Callable[..., Rows]] = {"flight_schedule": flight_schedule}


@dataclass(frozen=True)
class RequestTransform:
    """Parses an ODFV's request columns by their declared types, then computes its features."""

    view: OnDemandFeatureView
    inputs: dict[str, Any]  # request column: Feast type

    def __call__(self, entities: Mapping[str, Sequence[Any]], rows: int) -> Rows:
        columns = {name: _parse(name, kind, entities[name]) for name, kind in self.inputs.items()}
        twin = TWINS.get(self.view.name)
        try:
            return twin(**columns) if twin else own_transformation(self.view, columns)
        except (OverflowError, ValueError) as exc:  # say, a time out of the zone database
            raise BadReadError(
                f"on-demand view {self.view.name!r} cannot use {columns}: {exc}"
            ) from exc


def request_transform(view: OnDemandFeatureView) -> RequestTransform:
    if view.source_feature_view_projections:
        raise BadReadError(
            f"on-demand view {view.name!r} reads feature views; the server computes only "
            "request-time views: ask for its sources instead"
        )
    inputs = {
        f.name: f.dtype for source in view.source_request_sources.values() for f in source.schema
    }
    return RequestTransform(view, inputs)


def own_transformation(view: OnDemandFeatureView, columns: Mapping[str, list[Any]]) -> Rows:
    """The ODFV's own (pandas) transformation, with values typed as its schema declares."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            name: pd.to_datetime(values, utc=True) if _is_time(values) else values
            for name, values in columns.items()
        }
    )
    out = view.feature_transformation.udf(frame)
    return {f.name: [_typed(v, f.dtype) for v in out[f.name].tolist()] for f in view.features}


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
