"""Serving and the model's contract: the tags name the FeatureService and the features in the
model's order; a model whose contract does not match the registry is not served."""

import json
import math

import pytest

from serving.errors import ModelContractError
from serving.model import Champion, _contract
from serving.reload import serve
from training.contract import ModelContract, find_service

NAMES = ["flights_7d", "temp", "distance_miles"]


def test_tags_give_the_service_and_the_ordered_feature_names() -> None:
    tags = ModelContract("flight_delay_v1", dict.fromkeys(NAMES, "Float64")).tags()
    contract = _contract(tags, "m")
    assert (contract.feature_service, contract.feature_names) == ("flight_delay_v1", NAMES)


@pytest.mark.parametrize(
    ("tags", "complaint"),
    [
        ({"feature_names": json.dumps(NAMES)}, "feature_service"),
        ({"feature_service": "flight_delay_v1"}, "feature_names"),
        (
            {"feature_service": "s", "feature_names": "flights_7d,temp", "feature_types": "{}"},
            "not JSON",
        ),
        (
            {"feature_service": "s", "feature_names": json.dumps({"a": 1}), "feature_types": "{}"},
            "list of strings",
        ),
    ],
)
def test_a_version_without_the_contract_tags_is_refused(tags, complaint) -> None:
    with pytest.raises(ModelContractError, match=complaint):
        _contract(tags, "flight_delay version 3")


def test_the_frame_has_the_models_columns_as_floats_with_nan_for_missing() -> None:
    champion = Champion("m", "1", ModelContract("s", dict.fromkeys(NAMES, "Float64")), None)
    frame = champion.frame({"distance_miles": 1400, "flights_7d": None, "unused": 1.0})
    assert list(frame.columns) == NAMES
    assert (frame.dtypes == "float64").all()
    assert math.isnan(frame.at[0, "flights_7d"]) and math.isnan(frame.at[0, "temp"])
    assert frame.at[0, "distance_miles"] == 1400.0


def _champion(store, **type_changes) -> Champion:
    service = store.get_feature_service("flight_delay_v1")
    types = {
        f.name: str(f.dtype) for view in service.feature_view_projections for f in view.features
    }
    return Champion(
        "flight_delay", "7", ModelContract("flight_delay_v1", {**types, **type_changes}), None
    )


def test_serving_loads_a_model_whose_contract_matches_the_registry(store, serving_settings) -> None:
    assert serve(store, _champion(store), serving_settings).champion.version == "7"


def test_serving_refuses_a_model_whose_feature_types_changed(store, serving_settings) -> None:
    with pytest.raises(ModelContractError, match=r"version 7.*flights_7d"):
        serve(store, _champion(store, flights_7d="String"), serving_settings)


def test_serving_refuses_a_model_needing_features_the_service_lacks(store, serving_settings):
    with pytest.raises(ModelContractError, match="dest_wind"):
        serve(store, _champion(store, dest_wind="Float64"), serving_settings)


def test_a_service_missing_from_the_registry_is_refused(store, serving_settings) -> None:
    champion = Champion("m", "1", ModelContract("flight_delay_v9", {"temp": "Float64"}), None)
    with pytest.raises(ModelContractError, match="flight_delay_v9"):
        serve(store, champion, serving_settings)


def test_a_repo_never_applied_is_refused(fresh_platform) -> None:
    from feast import FeatureStore

    from training.errors import ContractError

    store = FeatureStore(repo_path=str(fresh_platform.feature_repo))
    with pytest.raises(ContractError, match="pipelines apply"):
        find_service(store, "flight_delay_v1")
