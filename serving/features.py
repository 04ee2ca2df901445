"""The model's contract with the feature repo: its FeatureService and the names it uses."""

from feast import FeatureService, FeatureStore

from serving.errors import ModelContractError


def service_feature_names(service: FeatureService, full_feature_names: bool = False) -> set[str]:
    """The names of the service's features, plain or `view__feature`."""
    return {
        f"{view.name_to_use()}__{field.name}" if full_feature_names else field.name
        for view in service.feature_view_projections
        for field in view.features
    }


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
