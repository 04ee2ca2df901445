"""The model's contract: a version's recorded service and feature types against the Feast
registry, with every difference named feature by feature; and the tags it is written as."""

import json

import pytest

from training.contract import ModelContract, compare, registered_types
from training.errors import ContractError
from training.frames import get_service, open_store


@pytest.fixture(scope="module")
def store(settings):
    return open_store(settings.feature_repo)


def test_a_version_trained_on_the_registered_service_passes(store, settings, schema):
    ModelContract(settings.service, schema).check(store)


def test_full_feature_names_are_compared_as_full_names(store, settings):
    full = registered_types(get_service(store, settings.service), full_names=True)
    contract = ModelContract(settings.service, full)
    assert contract.full_names
    contract.check(store)


def test_every_difference_is_named(store, settings, schema):
    names = list(schema)
    first, last = names[0], names[-1]
    other = "Float64" if schema[first] != "Float64" else "Int64"
    recorded = {**schema, first: other, "gone_feature": "Float64"}
    del recorded[last]
    with pytest.raises(ContractError) as caught:
        ModelContract(settings.service, recorded).check(store)
    message = str(caught.value)
    assert f"{first} was {other}, is now {schema[first]}" in message
    assert "gone_feature (Float64) is no longer in the service" in message
    assert f"{last} ({schema[last]}) was added to the service" in message


def test_an_unknown_service_is_refused(store, schema):
    with pytest.raises(ContractError, match="'no_such_service' is not registered"):
        ModelContract("no_such_service", schema).check(store)


def test_the_contract_round_trips_through_its_tags(settings, schema):
    contract = ModelContract(settings.service, schema)
    assert ModelContract.from_tags(contract.tags()) == contract
    assert json.loads(contract.tags()["feature_names"]) == list(schema)


@pytest.mark.parametrize(
    ("tags", "complaint"),
    [
        ({"feature_service": "s"}, "feature_names"),
        ({"feature_service": "s", "feature_names": "[", "feature_types": "{}"}, "not JSON"),
        (
            {"feature_service": "s", "feature_names": '["a"]', "feature_types": '["a"]'},
            "map features",
        ),
        (
            {"feature_service": "s", "feature_names": '["a"]', "feature_types": '{"b": "Int64"}'},
            "disagree",
        ),
    ],
)
def test_versions_without_a_readable_contract_are_refused(tags, complaint):
    with pytest.raises(ContractError, match=complaint):
        ModelContract.from_tags(tags)


def test_compare_is_empty_for_equal_schemas():
    assert compare({"a": "Int64"}, {"a": "Int64"}) == []
