"""The serving-side contract check: a version's recorded service and feature types against the
Feast registry, with every difference named feature by feature."""

import json

import pytest

from training.contract import check_contract, compare
from training.errors import ContractError
from training.frames import open_store
from training.registry import contract_tags


@pytest.fixture(scope="module")
def store(settings):
    return open_store(settings.feature_repo)


def test_a_version_trained_on_the_registered_service_passes(store, schema):
    check_contract(store, contract_tags("flight_delay_v1", schema))


def test_full_feature_names_are_compared_as_full_names(store, schema):
    service = store.get_feature_service("flight_delay_v1")
    full = {
        f"{p.name_to_use()}__{f.name}": str(f.dtype)
        for p in service.feature_view_projections
        for f in p.features
    }
    check_contract(store, contract_tags("flight_delay_v1", full))


def test_every_difference_is_named(store, schema):
    recorded = {**schema, "flights_7d": "Float64", "dest_wind": "Float64"}
    del recorded["temp"]
    with pytest.raises(ContractError) as caught:
        check_contract(store, contract_tags("flight_delay_v1", recorded))
    message = str(caught.value)
    assert "flights_7d was Float64, is now Int64" in message
    assert "dest_wind (Float64) is no longer in the service" in message
    assert "temp (Float64) was added to the service" in message


def test_an_unknown_service_is_refused(store, schema):
    with pytest.raises(ContractError, match="'flight_delay_v9'.*does not have"):
        check_contract(store, contract_tags("flight_delay_v9", schema))


@pytest.mark.parametrize(
    ("tags", "complaint"),
    [
        ({"feature_service": "flight_delay_v1"}, "feature_types"),
        ({"feature_service": "s", "feature_types": "temp"}, "not JSON"),
        ({"feature_service": "s", "feature_types": json.dumps(["temp"])}, "JSON object"),
    ],
)
def test_versions_without_a_readable_contract_are_refused(store, tags, complaint):
    with pytest.raises(ContractError, match=complaint):
        check_contract(store, tags)


def test_compare_is_empty_for_equal_schemas():
    assert compare({"a": "Int64"}, {"a": "Int64"}) == []
