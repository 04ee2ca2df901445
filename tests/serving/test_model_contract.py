"""The model contract: tags name the FeatureService and the features, in the model's order."""

import json
import math

import pytest

from serving.errors import ModelContractError
from serving.features import find_service, uses_full_names
from serving.model import Champion, _contract
from serving.reload import serve

NAMES = ["flights_7d", "temp", "distance_miles"]


def test_tags_give_the_service_and_the_ordered_feature_names() -> None:
    tags = {"feature_service": "flight_delay_v1", "feature_names": json.dumps(NAMES)}
    assert _contract(tags, "m") == ("flight_delay_v1", NAMES)


@pytest.mark.parametrize(
    ("tags", "complaint"),
    [
        ({"feature_names": json.dumps(NAMES)}, "feature_service"),
        ({"feature_service": "flight_delay_v1"}, "feature_names"),
        ({"feature_service": "s", "feature_names": "flights_7d,temp"}, "not JSON"),
        ({"feature_service": "s", "feature_names": json.dumps({"a": 1})}, "list of strings"),
    ],
)
def test_a_version_without_the_contract_tags_is_refused(tags, complaint) -> None:
    with pytest.raises(ModelContractError, match=complaint):
        _contract(tags, "flight_delay version 3")


def test_the_frame_has_the_models_columns_as_floats_with_nan_for_missing() -> None:
    champion = Champion("m", "1", "s", NAMES, estimator=None)
    frame = champion.frame({"distance_miles": 1400, "flights_7d": None, "unused": 1.0})
    assert list(frame.columns) == NAMES
    assert (frame.dtypes == "float64").all()
    assert math.isnan(frame.at[0, "flights_7d"]) and math.isnan(frame.at[0, "temp"])
    assert frame.at[0, "distance_miles"] == 1400.0


def test_plain_and_full_feature_names_both_match_the_service(store) -> None:
    service = store.get_feature_service("flight_delay_v1")
    assert uses_full_names(service, ["flights_7d", "dep_hour_local"]) is False
    assert uses_full_names(service, ["aircraft_history__flights_7d"]) is True


def test_a_model_needing_features_the_service_lacks_is_refused(store) -> None:
    service = store.get_feature_service("flight_delay_v1")
    with pytest.raises(ModelContractError, match="dest_wind"):
        uses_full_names(service, ["flights_7d", "dest_wind"])


def test_a_service_missing_from_the_registry_is_refused(store) -> None:
    with pytest.raises(ModelContractError, match="flight_delay_v9"):
        find_service(store, "flight_delay_v9")


def test_a_repo_never_applied_is_refused(fresh_platform) -> None:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(fresh_platform.feature_repo))
    with pytest.raises(ModelContractError, match="pipelines apply"):
        find_service(store, "flight_delay_v1")


def _champion(store, **tag_changes) -> Champion:
    service = store.get_feature_service("flight_delay_v1")
    fields = [f for view in service.feature_view_projections for f in view.features]
    types = {f.name: str(f.dtype) for f in fields}
    tags = {
        "feature_service": "flight_delay_v1",
        "feature_names": json.dumps([f.name for f in fields]),
        "feature_types": json.dumps({**types, **tag_changes}),
    }
    return Champion("flight_delay", "7", "flight_delay_v1", [f.name for f in fields], None, tags)


def test_serving_loads_a_model_whose_contract_matches_the_registry(store) -> None:
    assert serve(store, _champion(store)).champion.version == "7"


def test_serving_refuses_a_model_whose_feature_types_changed(store) -> None:
    with pytest.raises(ModelContractError, match=r"version 7.*flights_7d"):
        serve(store, _champion(store, flights_7d="String"))
