"""The model's contract: which FeatureService a registered version was trained on, and which
features (names, order, Feast types) it reads. This module alone writes and reads it.

A version carries its contract as tags: `feature_service`, `feature_names` (JSON list, the
column order the model expects) and `feature_types` (JSON object, each feature's Feast type
as the registry had it), `model_inputs` (JSON list: the model's columns in order, the features
then the entity keys it reads as categories) and `categories` (JSON object: each categorical
input's known categories, whose index is its code). `ModelContract.check` compares it with
the service as the registry knows it now and raises ContractError listing every difference,
feature by feature: features gone from the service, features the service gained, and features
whose type changed. Serving calls it before loading a model; promotion calls it before moving
the champion alias.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from training.errors import ContractError, TrainingError

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore, Field, OnDemandFeatureView

TAGS = ("feature_service", "feature_names", "feature_types")
CATEGORICAL = {"String"}  # Feast types the model reads as categories


@dataclass(frozen=True)
class ModelContract:
    feature_service: str
    feature_types: dict[str, str]  # feature -> Feast type, in the service's order
    keys: tuple[str, ...] = ()  # entity keys (or request fields) the model reads as categories
    categories: dict[str, list[str]] = field(default_factory=dict)  # input -> known categories

    @property
    def feature_names(self) -> list[str]:
        return list(self.feature_types)

    @property
    def inputs(self) -> list[str]:
        """The model's columns, in order: the service's features, then the keys it reads."""
        return [*self.feature_types, *self.keys]

    @property
    def numeric_names(self) -> list[str]:
        """The features that are numbers (what drift and skew compare as distributions)."""
        return [n for n, kind in self.feature_types.items() if kind not in CATEGORICAL]

    @property
    def full_names(self) -> bool:
        """Whether the features are named `view__feature` (Feast's full names)."""
        return bool(self.feature_types) and all("__" in n for n in self.feature_types)

    def tags(self) -> dict[str, str]:
        return {
            "feature_service": self.feature_service,
            "feature_names": json.dumps(self.feature_names),
            "feature_types": json.dumps(self.feature_types),
            "model_inputs": json.dumps(self.inputs),
            "categories": json.dumps(self.categories),
        }

    @classmethod
    def from_tags(
        cls, tags: Mapping[str, str], which: str = "the model version"
    ) -> "ModelContract":
        missing = sorted(set(TAGS) - set(tags))
        if missing:
            raise ContractError(
                f"{which} lacks the tag(s) {missing}: it was registered without its contract; "
                "retrain it with `python -m training train`"
            )
        try:
            names, types = json.loads(tags["feature_names"]), json.loads(tags["feature_types"])
        except json.JSONDecodeError as exc:
            raise ContractError(f"{which}: a contract tag is not JSON ({exc})") from exc
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            raise ContractError(f"{which}: tag feature_names must be a list of strings")
        if not isinstance(types, dict) or not all(isinstance(v, str) for v in types.values()):
            raise ContractError(f"{which}: tag feature_types must map features to Feast types")
        if list(types) != names:
            raise ContractError(f"{which}: tags feature_names and feature_types disagree")
        try:  # versions registered before categorical inputs read only their features
            inputs = json.loads(tags.get("model_inputs", json.dumps(names)))
            categories = json.loads(tags.get("categories", "{}"))
        except json.JSONDecodeError as exc:
            raise ContractError(f"{which}: a contract tag is not JSON ({exc})") from exc
        if not isinstance(inputs, list) or inputs[: len(names)] != names:
            raise ContractError(f"{which}: tag model_inputs must start with feature_names")
        if not isinstance(categories, dict) or not set(categories) <= set(inputs):
            raise ContractError(f"{which}: tag categories must map model inputs to categories")
        return cls(tags["feature_service"], types, tuple(inputs[len(names) :]), categories)

    def check(self, store: "FeatureStore") -> None:
        """Raise ContractError unless the registry's service has exactly these features."""
        service = find_service(store, self.feature_service, ContractError)
        differences = compare(self.feature_types, registered_types(service, self.full_names))
        if differences:
            raise ContractError(
                f"the model was trained on FeatureService {self.feature_service!r} with "
                f"features that the Feast registry of {store.repo_path} no longer has as "
                "recorded: "
                + "; ".join(differences)
                + ". Retrain on the current service (`python -m training train`) or re-apply "
                "the feature repo the model was trained on"
            )


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


@dataclass(frozen=True)
class ServiceReads:
    """What answering a FeatureService reads, in a stable order: the batch views (those it
    lists and those only its on-demand views read), its on-demand views, the join keys and the
    request fields an entity row needs."""

    views: list[str]
    hidden: list[str]  # batch views read only by an on-demand view, not listed by the service
    on_demand: list["OnDemandFeatureView"]
    keys: list[str]
    requested: dict[str, "Field"]  # request field -> its declaration (type, description, tags)

    def inputs(self) -> tuple[list[str], list[str]]:
        """(join keys, request fields that are not join keys)."""
        return self.keys, [r for r in self.requested if r not in self.keys]


def service_reads(store: "FeatureStore", service: "FeatureService") -> ServiceReads:
    on_demand = {v.name: v for v in store.list_on_demand_feature_views(allow_cache=True)}
    listed: dict[str, None] = {}
    hidden: dict[str, None] = {}
    keys: dict[str, None] = {}
    requested: dict[str, Field] = {}
    used = []
    for projection in service.feature_view_projections:
        if projection.name in on_demand:
            view = on_demand[projection.name]
            used.append(view)
            for source in view.source_request_sources.values():
                requested.update({f.name: f for f in source.schema})
            for read in view.source_feature_view_projections.values():
                hidden[read.name] = None
                keys.update(dict.fromkeys(_keys(store, read)))
        else:
            listed[projection.name] = None
            keys.update(dict.fromkeys(_keys(store, projection)))
    only_hidden = [v for v in hidden if v not in listed]
    return ServiceReads([*listed, *only_hidden], only_hidden, used, list(keys), requested)


def service_inputs(store: "FeatureStore", service: "FeatureService") -> tuple[list[str], list[str]]:
    """(join keys, request fields) an entity row needs for the service, in a stable order."""
    return service_reads(store, service).inputs()


def _keys(store: "FeatureStore", projection) -> list[str]:
    view = store.get_feature_view(projection.name, allow_registry_cache=True)
    mapping = projection.join_key_map or {}
    return [mapping.get(c.name, c.name) for c in view.entity_columns]


def find_service(
    store: "FeatureStore", name: str, error: type[TrainingError] = ContractError
) -> "FeatureService":
    """The registry's FeatureService `name`; `error` (naming how to fix it) when it has none."""
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(name, allow_cache=True)
    # FileNotFoundError: the repo was never applied, so it has no registry folder.
    except (FeatureServiceNotFoundException, FileNotFoundError) as exc:
        raise error(
            f"FeatureService {name!r} is not registered for {store.repo_path}: run "
            "`python -m pipelines apply` with the domain folder it is declared in, or set "
            "LARDER_FEATURE_SERVICE to one that is registered"
        ) from exc
