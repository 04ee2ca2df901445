"""`larder init DIR` writes a domain that runs the whole loop at once, on the sample data it
ships: ingest to a served prediction."""

import pytest
from fastapi.testclient import TestClient

from larder.__main__ import main
from larder.domain import load
from larder.init import project_name
from serving.app import create_app
from serving.settings import ServingSettings
from tests.conftest import run_stages
from training.settings import TrainingSettings
from training.train import train

pytestmark = pytest.mark.e2e


def test_a_new_domain_goes_from_its_sample_to_a_served_prediction(tmp_path, capsys) -> None:
    from pipelines.settings import PipelineSettings

    folder = tmp_path / "my-shop"
    assert main(["init", str(folder)]) == 0
    assert "make run REPO=" in capsys.readouterr().out
    domain = load(folder)
    assert domain.project == "my_shop" and domain.task.name == "orders_again"
    assert "my_shop" in (folder / "README.md").read_text()
    settings = PipelineSettings(feature_repo=folder)  # no landing: the domain's sample
    run_stages(settings, "ingest", "validate", "transform", "apply", "materialize")
    result = train(TrainingSettings(feature_repo=folder, tune_budget=0, bootstrap_samples=50))
    assert result.metrics["test_roc_auc"] > result.metrics["baseline_test_roc_auc"]
    with TestClient(create_app(ServingSettings(feature_repo=folder))) as client:
        body = {"customer_id": "C0001", "ordered_at": "2024-12-30T12:00:00Z"}
        answer = client.post("/predict", json=body)
        assert answer.status_code == 200, answer.text
        assert 0 <= answer.json()["order_again_probability"] <= 1
        assert answer.json()["features"]["orders_30d"]["status"] == "present"


def test_init_refuses_a_folder_that_is_not_empty(tmp_path, capsys) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["init", str(tmp_path / "taken")]) == 1
    assert "is not empty" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "project"), [("shop", "shop"), ("9 lives", "d_9_lives")])
def test_the_project_name_is_feasts_kind(tmp_path, name, project) -> None:
    assert project_name(tmp_path / name) == project
