"""The promotion gate: the rule on its own, then a whole story on the fixture platform (a weak
first champion, a better challenger promoted, an identical one refused, a rollback), each
decision recorded in MLflow."""

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from training import promote, registry
from training.errors import RegistryError
from training.frames import open_store
from training.labels import LABEL
from training.settings import TrainingSettings
from training.train import TrainingResult

CLEAR = {
    "auc_gain": 0.1,
    "auc_gain_ci_low": 0.02,
    "auc_gain_ci_high": 0.2,
    "challenger_p95_latency_ms": 2.0,
    "challenger_size_mb": 1.0,
}


def test_the_rule_promotes_a_clear_gain_within_budgets(settings: TrainingSettings):
    assert promote.rule(CLEAR, settings) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"auc_gain_ci_low": -0.01}, "beyond the bootstrap noise"),
        ({"auc_gain_ci_low": 0.0}, "beyond the bootstrap noise"),  # zero is not better
        ({"challenger_p95_latency_ms": 80.0}, "p95 latency 80.00 ms is over the budget"),
        ({"challenger_size_mb": 70.0}, "model size 70.00 MB is over the budget"),
    ],
)
def test_the_rule_refuses_and_says_why(settings: TrainingSettings, change, reason):
    reasons = promote.rule({**CLEAR, **change}, settings)
    assert len(reasons) == 1 and reason in reasons[0]


def test_a_minimum_gain_raises_the_bar(settings: TrainingSettings):
    assert promote.rule(CLEAR, settings.model_copy(update={"min_auc_gain": 0.05}))


@pytest.fixture(scope="module")
def gate(settings: TrainingSettings) -> TrainingSettings:
    return settings.model_copy(update={"model_name": "flight_delay_gate", "actor": "tests@ci"})


def _register(settings: TrainingSettings, model, schema: dict[str, str]) -> str:
    """A version of `model` as training registers one: contract tags, test start, challenger."""
    import mlflow

    feast = registry.feast_client(open_store(settings.feature_repo), settings)
    with mlflow.start_run(experiment_id=registry.use_tracking(settings)):
        mlflow.log_param("test_start", settings.test_start.isoformat())
        uri = registry.log_model(feast, model, list(schema))
    return registry.register(settings, feast, uri, schema)


def _trained_model(settings: TrainingSettings, trained: TrainingResult):
    import mlflow

    client = registry.client(settings)
    return mlflow.sklearn.load_model(
        client.get_model_version_download_uri("flight_delay", trained.version)
    )


def _aliases(settings: TrainingSettings) -> dict[str, str]:
    found = registry.client(settings).get_registered_model(settings.model_name).aliases
    return {alias: str(version) for alias, version in found.items()}


def test_promotion_story(gate, schema, frame: pd.DataFrame, trained: TrainingResult):
    weak = DummyClassifier(strategy="prior").fit(frame[list(schema)], frame[LABEL])
    first = _register(gate, weak, schema)
    assert promote.promote(gate).action == promote.FIRST  # no champion yet
    assert _aliases(gate) == {"champion": first, "challenger": first}

    better = _register(gate, _trained_model(gate, trained), schema)
    decision = promote.promote(gate)
    assert decision.action == promote.PROMOTE, decision.reasons
    assert decision.metrics["auc_gain_ci_low"] > 0
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
        f"tags.model_name = '{settings.model_name}'",
        order_by=["attributes.start_time ASC"],
    )
    assert [run.data.tags["decision"] for run in runs] == actions
    assert all(run.data.tags["actor"] == "tests@ci" and run.data.tags["decided_at"] for run in runs)
    assert (
        "challenger_roc_auc" in runs[1].data.metrics and "auc_gain_ci_low" in runs[2].data.metrics
    )
    assert runs[2].data.tags["reasons"]
