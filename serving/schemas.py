"""The HTTP edge: what a caller sends and what the server answers. The `/predict` models depend
on the served FeatureService and the task, and are built in serving/requests.py."""

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)


def _iso_text(moment: Any) -> Any:
    # An integer could be seconds or milliseconds since the epoch, or a typo: times are text.
    if isinstance(moment, str | datetime):
        return moment
    raise ValueError("must be an ISO 8601 time as a string, such as 2013-01-07T15:00:00Z")


def _as_utc(moment: datetime) -> datetime:
    # A time without a zone is taken as UTC, the platform's only zone.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # say, 0001-01-01T00:00+00:01, before the calendar's first moment
        raise ValueError(f"must be between {PLAUSIBLE[0]:%Y} and {PLAUSIBLE[1]:%Y}") from None


def _plausible(moment: datetime) -> datetime:
    if not (PLAUSIBLE[0] <= moment <= PLAUSIBLE[1]):
        raise ValueError(f"must be between {PLAUSIBLE[0]:%Y} and {PLAUSIBLE[1]:%Y}")
    return moment


PLAUSIBLE = (datetime(1970, 1, 2, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
UtcTime = Annotated[
    datetime, BeforeValidator(_iso_text), AfterValidator(_as_utc), AfterValidator(_plausible)
]
INT64 = (-(2**63), 2**63 - 1)  # what Feast stores an integer as


class FeatureValue(BaseModel):
    value: int | float | str | None
    status: Literal["present", "null_value", "not_found", "outside_max_age", "invalid"]
    event_timestamp: datetime | None = Field(
        description="When the value became known (UTC); null for request-time features."
    )


class ModelInfo(BaseModel):
    name: str
    version: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    model: ModelInfo
    feature_service: str


Scalar = (
    StrictStr
    | Annotated[int, Strict(), Field(ge=INT64[0], le=INT64[1])]
    | Annotated[float, Strict(), Field(allow_inf_nan=False)]
    | StrictBool
    | None
)


class OnlineFeaturesRequest(BaseModel):
    """Feast's feature-server request, plus an optional `as_of` (Feast ignores unknown fields).

    `as_of` is the reference time of the ttl checks: a value older than `as_of - ttl` of its
    view is OUTSIDE_MAX_AGE with a null value. Unset, it is LARDER_AS_OF, else the clock.
    """

    entities: dict[str, list[Scalar]] = Field(min_length=1, description="join key: values")
    features: list[str] = Field(default=[], description="`view:feature` references")
    feature_service: str | None = None
    full_feature_names: bool = False
    include_feature_view_version_metadata: bool = False
    as_of: UtcTime | None = None

    @field_validator("features")
    @classmethod
    def _each_once(cls, features: list[str]) -> list[str]:
        if len(set(features)) == len(features):
            return features
        repeated = sorted(f for f, n in Counter(features).items() if n > 1)
        raise ValueError(f"names {repeated[:10]} more than once: name each feature once")

    @model_validator(mode="after")
    def _names_features(self) -> "OnlineFeaturesRequest":
        if not (self.features or self.feature_service):
            raise ValueError("give `features` (['view:feature', ...]) or `feature_service`")
        return self

    @property
    def rows(self) -> int:
        return max(len(values) for values in self.entities.values())


class FeatureVector(BaseModel):
    values: list[Any]
    statuses: list[Literal["PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE", "INVALID"]]
    event_timestamps: list[str]


class FeatureViewVersion(BaseModel):
    name: str
    version: int


class OnlineFeaturesMetadata(BaseModel):
    feature_names: list[str]
    feature_view_metadata: list[FeatureViewVersion] = []


class OnlineFeaturesResponse(BaseModel):
    metadata: OnlineFeaturesMetadata
    results: list[FeatureVector]


class PushRequest(BaseModel):
    """Feast's push request; only `to: online` is served (the offline store is the pipelines')."""

    push_source_name: str = Field(min_length=1)
    df: dict[str, list[Scalar]] = Field(min_length=1)
    to: Literal["online"] = "online"
    allow_registry_cache: bool = True
    transform_on_write: bool = True


class PushedView(BaseModel):
    view: str
    written: int
    skipped_older: int = Field(description="Rows older than what the store holds: not written.")


class PushResponse(BaseModel):
    views: list[PushedView]


class Reloaded(BaseModel):
    reloaded: bool
    model: ModelInfo
