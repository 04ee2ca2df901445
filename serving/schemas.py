"""The HTTP edge: what a caller sends and what the server answers."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PositiveInt,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)

# Codes as the data spells them: upper case, no surrounding blanks.
Code = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1)]


def _as_utc(moment: datetime) -> datetime:
    # A time without a zone is taken as UTC, the platform's only zone.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # say, 0001-01-01T00:00+00:01, before the calendar's first moment
        raise ValueError(f"must be between {PLAUSIBLE[0]:%Y} and {PLAUSIBLE[1]:%Y}") from None


def _plausible(moment: datetime) -> datetime:
    # Far outside it, `scheduled_departure - 2 h` and local times overflow the calendar.
    if not (PLAUSIBLE[0] <= moment <= PLAUSIBLE[1]):
        raise ValueError(f"must be between {PLAUSIBLE[0]:%Y} and {PLAUSIBLE[1]:%Y}")
    return moment


PLAUSIBLE = (datetime(1970, 1, 2, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


class Flight(BaseModel):
    """One flight, as known before it departs."""

    tailnum: Code = Field(description="The aircraft's tail number.", examples=["N14228"])
    carrier: Code = Field(description="Two-letter carrier code.", examples=["UA"])
    origin: Code = Field(description="Departure airport (EWR, JFK or LGA).", examples=["EWR"])
    dest: Code = Field(description="Arrival airport, FAA code.", examples=["IAH"])
    scheduled_departure: Annotated[
        datetime, AfterValidator(_as_utc), AfterValidator(_plausible)
    ] = Field(
        description="Scheduled departure, ISO-8601. A time without a zone is taken as UTC.",
        examples=["2013-01-07T10:15:00Z"],
    )
    distance: PositiveInt = Field(
        le=100_000, description="Flight distance in miles.", examples=[1400]
    )

    def entity_row(self) -> dict[str, Any]:
        """The row Feast reads with: join keys plus request-time columns.

        Every field goes in (Feast ignores the ones no view of the service uses, such as
        `dest` for flight_delay_v1), so a service keyed on another field needs no change here.
        """
        return self.model_dump()


class FeatureValue(BaseModel):
    value: int | float | str | None
    status: Literal["present", "null_value", "not_found", "outside_max_age", "invalid"]
    event_timestamp: datetime | None = Field(
        description="When the value became known (UTC); null for request-time features."
    )


class ModelInfo(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    request_id: str = Field(description="Also in the prediction log, to join outcomes later.")
    prediction_time: datetime = Field(
        description="scheduled_departure - 2 h: the reference time of the ttl checks."
    )
    delay_probability: float = Field(
        ge=0, le=1, description="P(arrives more than 15 minutes late or is cancelled)."
    )
    model: ModelInfo
    feature_service: str
    features: dict[str, FeatureValue] = Field(
        description="Each feature the model used, in the model's order."
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    model: ModelInfo
    feature_service: str


class Flights(BaseModel):
    flights: list[Flight] = Field(min_length=1, description="At most FLIGHTS_MAX_BATCH flights.")


class Predictions(BaseModel):
    predictions: list[Prediction]


Scalar = StrictStr | StrictInt | StrictFloat | StrictBool | None
UtcTime = Annotated[datetime, AfterValidator(_as_utc), AfterValidator(_plausible)]


class OnlineFeaturesRequest(BaseModel):
    """Feast's feature-server request, plus an optional `as_of` (Feast ignores unknown fields).

    `as_of` is the reference time of the ttl checks: a value older than `as_of - ttl` of its
    view is OUTSIDE_MAX_AGE with a null value. Unset, it is FLIGHTS_AS_OF, else the clock.
    """

    entities: dict[str, list[Scalar]] = Field(
        min_length=1, examples=[{"tailnum": ["N14228"], "carrier": ["UA"]}]
    )
    features: list[str] = Field(default=[], examples=[["aircraft_history:flights_7d"]])
    feature_service: str | None = None
    full_feature_names: bool = False
    include_feature_view_version_metadata: bool = False
    as_of: UtcTime | None = None

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
