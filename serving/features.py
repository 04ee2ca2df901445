"""Online feature reads through a FeatureService: each feature's value, status and timestamp."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feast import FeatureService, FeatureStore
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.type_map import feast_value_type_to_python_type

from serving.errors import ModelContractError


@dataclass(frozen=True)
class Reading:
    """One feature as the online store answered it.

    `status` is Feast's FieldStatus in lower case: present, null_value, not_found,
    outside_max_age (or invalid). Feast's SQLite store reports a null it stored (say, a
    late share over no flights) as present with value None. Request-time features have no
    event timestamp.
    """

    value: Any
    status: str
    event_timestamp: datetime | None


@dataclass(frozen=True)
class OnlineFeatures:
    """The online store, read through one FeatureService and named as the model names them."""

    store: FeatureStore
    service: FeatureService
    full_feature_names: bool = False

    def read(self, row: dict[str, Any]) -> dict[str, Reading]:
        """Every feature of the service for one entity row (join keys plus request columns).

        Keyed by feature name, never by position: Feast's order of features inside a view
        is not stable between processes. The join keys Feast echoes back are left out.
        """
        wanted = service_feature_names(self.service, self.full_feature_names)
        proto = self.store.get_online_features(
            features=self.service, entity_rows=[row], full_feature_names=self.full_feature_names
        ).proto
        return {
            name: _reading(result)
            for name, result in zip(proto.metadata.feature_names.val, proto.results, strict=True)
            if name in wanted
        }


def service_feature_names(service: FeatureService, full_feature_names: bool = False) -> set[str]:
    """The names `OnlineFeatures.read` returns for `service`."""
    return {
        f"{view.name_to_use()}__{field.name}" if full_feature_names else field.name
        for view in service.feature_view_projections
        for field in view.features
    }


def _reading(result: Any) -> Reading:
    # One entity row, so each result holds exactly one value, status and timestamp.
    return Reading(
        value=feast_value_type_to_python_type(result.values[0]),
        status=FieldStatus.Name(result.statuses[0]).lower(),
        event_timestamp=_timestamp(result.event_timestamps),
    )


def _timestamp(stamps: Any) -> datetime | None:
    # Feast leaves the list empty (or the epoch) where there is no row: request-time
    # features and entities not found.
    if not stamps or stamps[0].seconds == stamps[0].nanos == 0:
        return None
    return stamps[0].ToDatetime(tzinfo=UTC)


def find_service(store: FeatureStore, name: str) -> FeatureService:
    """The FeatureService a model was trained on, from the feature repo's registry."""
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(name)
    # FileNotFoundError: the repo was never applied, so it has no registry folder.
    except (FeatureServiceNotFoundException, FileNotFoundError) as exc:
        raise ModelContractError(
            f"the model was trained on FeatureService {name!r}, which the registry of "
            f"{store.repo_path} lacks: run `python -m pipelines apply` with the feature repo "
            "the model was trained from, or point FLIGHTS_FEATURE_REPO at it"
        ) from exc


def uses_full_names(service: FeatureService, feature_names: list[str]) -> bool:
    """Whether the model names its features `view__feature` (Feast's full names) or plainly.

    Raises ModelContractError when the service does not provide every feature the model needs.
    """
    for full in (False, True):
        if set(feature_names) <= service_feature_names(service, full):
            return full
    missing = sorted(set(feature_names) - service_feature_names(service))
    raise ModelContractError(
        f"FeatureService {service.name!r} lacks features the model needs: {missing[:10]}; "
        "serve a model trained on this service, or apply the repo it was trained from"
    )
