"""The promotion gate: the rule on its own, then a whole story on each domain's platform (a weak
first champion, a better challenger promoted, an identical one refused, a rollback), each
decision recorded in MLflow; and a promotion across FeatureServices."""

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from training import promote, registry
from training.contract import ModelContract
from training.errors import RegistryError
from training.examples import LABEL
from training.frames import feature_schema, open_store
from training.settings import TrainingSettings
from training.train import TrainingResult, train

CLEAR = {
    "gain": 0.1,
    "gain_ci_low": 0.02,
    "gain_ci_high": 0.2,
    "challenger_p95_latency_ms": 2.0,
    "challenger_size_mb": 1.0,
}


def test_the_rule_promotes_a_clear_gain_within_budgets(settings: TrainingSettings):
    assert promote.rule(CLEAR, settings) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"gain_ci_low": -0.01}, "beyond the bootstrap noise"),
        ({"gain_ci_low": 0.0}, "beyond the bootstrap noise"),  # zero is not better
        ({"challenger_p95_latency_ms": 80.0}, "p95 latency 80.00 ms is over the budget"),
        ({"challenger_size_mb": 70.0}, "model size 70.00 MB is over the budget"),
    ],
)
def test_the_rule_refuses_and_says_why(settings: TrainingSettings, change, reason):
    reasons = promote.rule({**CLEAR, **change}, settings)
    assert len(reasons) == 1 and reason in reasons[0]


def test_a_minimum_gain_raises_the_bar(settings: TrainingSettings):
    assert promote.rule(CLEAR, settings.model_copy(update={"min_gain": 0.05}))


@pytest.fixture(scope="module")
def gate(settings: TrainingSettings) -> TrainingSettings:
    return settings.model_copy(update={"model_name": f"{settings.model}_gate", "actor": "tests@ci"})


def _register(
    settings: TrainingSettings, model, schema: dict[str, str], service: str | None = None
) -> str:
    """A version of `model` as training registers one: contract tags, test start, challenger."""
    import mlflow

    feast = registry.feast_client(open_store(settings.feature_repo), settings)
    with mlflow.start_run(experiment_id=registry.use_tracking(settings)):
        mlflow.log_param("test_start", settings.split.test_start.isoformat())
        inputs = getattr(model, "inputs", list(schema))  # a trained model reads keys too
        categories = getattr(model, "categories", {})
        uri = registry.log_model(feast, model, inputs, categories)
    keys = tuple(inputs[len(schema) :])
    contract = ModelContract(service or settings.service, schema, keys, categories)
    return registry.register(settings, feast, uri, contract)


def _trained_model(settings: TrainingSettings, trained: TrainingResult):
    import mlflow

    client = registry.client(settings)
    return mlflow.sklearn.load_model(
        client.get_model_version_download_uri(f"{settings.model}_trained", trained.version)
    )


def _aliases(settings: TrainingSettings) -> dict[str, str]:
    found = registry.client(settings).get_registered_model(settings.model).aliases
    return {alias: str(version) for alias, version in found.items()}


@pytest.fixture(scope="module")
def story(gate: TrainingSettings) -> tuple[TrainingSettings, TrainingResult]:
    """The story's challenger, trained with the task's default parameters: a search over two
    time folds of a few days picks its candidate by noise, which the gate then rightly
    refuses."""
    settings = gate.model_copy(update={"model_name": f"{gate.model}_trained", "tune_budget": 0})
    return gate, train(settings)


def test_promotion_story(story, frame: pd.DataFrame):
    gate, trained = story
    schema = feature_schema(gate)
    weak = DummyClassifier(strategy="prior").fit(frame[list(schema)], frame[LABEL])
    first = _register(gate, weak, schema)
    assert promote.promote(gate).action == promote.FIRST  # no champion yet
    assert _aliases(gate) == {"champion": first, "challenger": first}

    better = _register(gate, _trained_model(gate, trained), schema)
    decision = promote.promote(gate)
    assert decision.action == promote.PROMOTE, decision.reasons
    assert decision.metrics["gain_ci_low"] > 0
    assert decision.metrics["challenger_roc_auc"] == pytest.approx(trained.metrics["test_roc_auc"])
    assert _aliases(gate) == {"champion": better, "challenger": better}

    same = _register(gate, _trained_model(gate, trained), schema)  # no better than the champion
    refused = promote.promote(gate)
    assert refused.action == promote.REFUSE and refused.champion_after == better
    assert "not above 0.0 beyond the bootstrap noise" in refused.reasons[0]
    assert _aliases(gate) == {"champion": better, "challenger": same}

    back = promote.rollback(gate)
    assert (back.champion_before, back.champion_after) == (better, first)
    assert _aliases(gate)["champion"] == first
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        promote.rollback(gate)  # the first champion replaced nobody

    _every_decision_is_recorded(gate, ["first model", "promote", "refuse", "rollback"])


def _every_decision_is_recorded(settings: TrainingSettings, actions: list[str]) -> None:
    client = registry.client(settings)
    experiment = client.get_experiment_by_name(settings.decisions_experiment)
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.model_name = '{settings.model}'",
        order_by=["attributes.start_time ASC"],
    )
    assert [run.data.tags["decision"] for run in runs] == actions
    assert all(run.data.tags["actor"] == "tests@ci" and run.data.tags["decided_at"] for run in runs)
    assert "challenger_roc_auc" in runs[1].data.metrics and "gain_ci_low" in runs[2].data.metrics
    assert runs[2].data.tags["reasons"]


def test_a_promotion_across_overlapping_services_scores_each_on_its_own(platform, tmp_path):
    """A champion on flight_delay_v1 against a challenger on a service that holds all of v1's
    views and one more: each is scored on its own service's features, on the same rows."""
    import shutil

    from feast import FeatureService

    from tests.training.conftest import slice_settings
    from training.train import train

    copy = tmp_path / platform.feature_repo.name
    shutil.copytree(platform.feature_repo, copy)
    settings = slice_settings(
        platform, feature_repo=copy, model_name="flight_delay_across", tune_budget=0
    )
    store = open_store(copy)
    v1 = store.get_feature_service("flight_delay_v1")
    views = [p.name for p in v1.feature_view_projections]
    wider = FeatureService(
        name="flight_delay_wider",
        features=[
            *(store.get_feature_view(n) for n in views if n != "flight_schedule"),
            store.get_feature_view("dest_arrivals"),
            store.get_on_demand_feature_view("flight_schedule"),
        ],
    )
    store.apply([wider])
    first = train(settings).version  # on v1: the first model, champion
    second = train(settings.model_copy(update={"feature_service": "flight_delay_wider"})).version
    decision = promote.promote(settings)
    assert decision.action in (promote.PROMOTE, promote.REFUSE), decision.reasons
    assert (decision.champion_before, decision.challenger) == (first, second)
    assert decision.metrics["rows"] > 0 and "gain_ci_low" in decision.metrics
