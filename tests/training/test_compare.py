"""`compare` on the flights slice: the full service, the reference service and one ablation
per view, fitted the same way, each a run of the comparison experiment with its intervals."""

import pytest

from training.compare import compare, markdown


@pytest.fixture(scope="module")
def compared(settings):
    if settings.task.name != "flight_delay":
        pytest.skip("the flights domain has a reference service")
    found = settings.model_copy(update={"model_name": "flight_delay_compare", "tune_budget": 0})
    return found, *compare(found, reference="flight_delay_v1")


def test_every_view_is_left_out_once_and_the_reference_stands_alone(compared) -> None:
    settings, _, table = compared
    names = list(table["variant"])
    assert names[:2] == ["full", "reference (flight_delay_v1)"]
    assert "without propagated_delay" in names and "without keys" in names
    assert table.set_index("variant").loc["full", "auc_gain"] == 0.0
    for metric in ("roc_auc", "log_loss", "brier", "ece"):
        assert (table[f"{metric}_ci_low"] <= table[metric]).all()
        assert (table[metric] <= table[f"{metric}_ci_high"]).all()
    assert table.set_index("variant").loc["without keys", "inputs"] == table["inputs"].max() - 3


def test_each_variant_is_an_mlflow_run_under_one_parent(compared) -> None:
    from training import registry

    settings, run_id, table = compared
    client = registry.client(settings)
    parent = client.get_run(run_id)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert sorted(r.info.run_name for r in children) == sorted(table["variant"])
    assert "| full |" in markdown(table)
