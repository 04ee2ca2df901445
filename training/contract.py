"""The model contract: a registered version still matches the Feast registry it will read from.

A version records `feature_service` and `feature_types` (JSON: feature name -> Feast type) as
tags. `check_contract` compares them with the service as the registry knows it now and raises
ContractError listing every difference, feature by feature: features gone from the service,
features the service gained, and features whose type changed. Serving calls it before loading
a model; promotion calls it before moving the champion alias.
"""

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from training.errors import ContractError

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore


def check_contract(store: "FeatureStore", model_version_tags: Mapping[str, str]) -> None:
    """Raise ContractError unless the tags' service and feature types match the registry."""
    name, recorded = recorded_contract(model_version_tags)
    current = registered_types(_service(store, name), full_names=_uses_full_names(recorded))
    differences = compare(recorded, current)
    if differences:
        raise ContractError(
            f"the model was trained on FeatureService {name!r} with features that the Feast "
            f"registry of {store.repo_path} no longer has as recorded: "
            + "; ".join(differences)
            + ". Retrain on the current service (`python -m training train`) or re-apply the "
            "feature repo the model was trained on"
        )


def recorded_contract(tags: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """(FeatureService name, feature -> Feast type) from a version's tags."""
    missing = sorted({"feature_service", "feature_types"} - set(tags))
    if missing:
        raise ContractError(
            f"the model version lacks the tag(s) {missing}: it was registered without its "
            "contract; retrain it with `python -m training train`"
        )
    try:
        types = json.loads(tags["feature_types"])
    except json.JSONDecodeError as exc:
        raise ContractError(f"tag feature_types is not JSON ({exc})") from exc
    if not isinstance(types, dict) or not all(isinstance(v, str) for v in types.values()):
        raise ContractError("tag feature_types must be a JSON object of feature -> Feast type")
    return tags["feature_service"], types


def registered_types(service: "FeatureService", full_names: bool = False) -> dict[str, str]:
    """Feature -> Feast type as the registry has the service (`view__name` if full_names)."""
    return {
        (f"{p.name_to_use()}__{f.name}" if full_names else f.name): str(f.dtype)
        for p in service.feature_view_projections
        for f in p.features
    }


def compare(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """One line per difference, in the recorded order, then the features the service gained."""
    lines = []
    for name, kind in recorded.items():
        if name not in current:
            lines.append(f"{name} ({kind}) is no longer in the service")
        elif current[name] != kind:
            lines.append(f"{name} was {kind}, is now {current[name]}")
    lines += [f"{n} ({current[n]}) was added to the service" for n in current if n not in recorded]
    return lines


def _uses_full_names(recorded: Mapping[str, str]) -> bool:
    return bool(recorded) and all("__" in name for name in recorded)


def _service(store: "FeatureStore", name: str) -> "FeatureService":
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(name)
    except (FeatureServiceNotFoundException, FileNotFoundError) as exc:
        raise ContractError(
            f"the model was trained on FeatureService {name!r}, which the Feast registry of "
            f"{store.repo_path} does not have: apply the feature repo the model was trained "
            "on, or serve a model trained on a registered service"
        ) from exc
