"""The HTTP edge: what a caller sends and what the server answers."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, PositiveInt, StringConstraints

# Codes as the data spells them: upper case, no surrounding blanks.
Code = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1)]


def _as_utc(moment: datetime) -> datetime:
    # A time without a zone is taken as UTC, the platform's only zone.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Flight(BaseModel):
    """One flight, as known before it departs."""

    tailnum: Code = Field(description="The aircraft's tail number.", examples=["N14228"])
    carrier: Code = Field(description="Two-letter carrier code.", examples=["UA"])
    origin: Code = Field(description="Departure airport (EWR, JFK or LGA).", examples=["EWR"])
    dest: Code = Field(description="Arrival airport, FAA code.", examples=["IAH"])
    scheduled_departure: Annotated[datetime, AfterValidator(_as_utc)] = Field(
        description="Scheduled departure, ISO-8601. A time without a zone is taken as UTC.",
        examples=["2013-01-07T10:15:00Z"],
    )
    distance: PositiveInt = Field(description="Flight distance in miles.", examples=[1400])

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
