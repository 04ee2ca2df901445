"""On-demand features: computed per request by the on-demand view's own transformation, as
the registry holds it (never a copy of it).

An on-demand view reads request fields (parsed here by the types its request sources
declare) and, optionally, features of feature views (read by the online reader first, as
plain feature names, as Feast gives them). `python` mode views take and return columns as
lists (the fast path: no DataFrame); `pandas` mode views a DataFrame; a `singleton` python view
is called once per row.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feast import OnDemandFeatureView
from feast.types import Float32, Float64, Int32, Int64, UnixTimestamp

from serving.errors import BadReadError, ServingError

Rows = dict[str, list[Any]]


@dataclass(frozen=True)
class RequestTransform:
    """Parses an on-demand view's request columns by their declared types, then runs it.

    What each column's type asks (parse a time, check a number, convert an output) is decided
    once, when the view is planned: comparing Feast types costs microseconds a comparison,
    and a request would make dozens of them."""

    view: OnDemandFeatureView
    inputs: dict[str, Any]  # request column: Feast type
    parsers: tuple[tuple[str, Any, "Parser"], ...] = field(init=False, repr=False)
    outputs: tuple[tuple[str, "Converter"], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parsers = tuple((name, kind, _parser(kind)) for name, kind in self.inputs.items())
        outputs = tuple((f.name, _converter(f.dtype)) for f in self.view.features)
        object.__setattr__(self, "parsers", parsers)
        object.__setattr__(self, "outputs", outputs)

    def __call__(
        self, entities: Mapping[str, Sequence[Any]], rows: int, features: Mapping[str, list]
    ) -> Rows:
        """The view's features for `rows` rows, from the request's `entities` columns and the
        source views' `features` (plain names)."""
        columns = {
            name: [parse(name, i, kind, v) for i, v in enumerate(entities[name])]
            for name, kind, parse in self.parsers
        }
        try:
            return own_transformation(self.view, {**features, **columns}, rows, self.outputs)
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
    view: OnDemandFeatureView,
    columns: Mapping[str, list[Any]],
    rows: int,
    outputs: Sequence[tuple[str, "Converter"]],
) -> Rows:
    """The view's own transformation, its outputs typed as its schema declares (`outputs`:
    each feature's name and converter, `RequestTransform.outputs`)."""
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
    return {name: [convert(v) for v in list(out[name])] for name, convert in outputs}


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


Converter = Callable[[Any], Any]
Parser = Callable[[str, int, Any, Any], Any]


def _converter(kind: Any) -> Converter:
    """How an output of Feast type `kind` is typed: NaN and None are missing."""
    if kind in (Int64, Int32):
        return _whole
    if kind in (Float64, Float32):
        return _real
    return _as_is


def _whole(value: Any) -> Any:
    return None if value is None or value != value else int(value)


def _real(value: Any) -> Any:
    return None if value is None or value != value else float(value)


def _as_is(value: Any) -> Any:
    return None if value is None or value != value else value


def _parser(kind: Any) -> Parser:
    """How a request column of Feast type `kind` is read: (name, row, kind, value) -> value."""
    if kind == UnixTimestamp:
        return _moment
    if kind in (Int64, Int32):
        return _whole_input
    if kind in (Float64, Float32):
        return _number_input
    return _any_input


def _whole_input(name: str, i: int, kind: Any, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadReadError(f"entities.{name}[{i}] is {value!r}, not a {kind}")


def _number_input(name: str, i: int, kind: Any, value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise BadReadError(f"entities.{name}[{i}] is {value!r}, not a {kind}")


def _any_input(name: str, i: int, kind: Any, value: Any) -> Any:
    return value


def _moment(name: str, i: int, kind: Any, value: Any) -> datetime:
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
