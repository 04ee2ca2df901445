"""Every command meets a corrupted or missing state file with one line that names it and how to
recover, never a traceback: the ingest manifest, the Feast registry, the online store and the
MLflow store, on a copy of the built flights platform."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from larder import state
from larder.cli import unexpected
from pipelines import manifest
from pipelines.__main__ import main as pipelines
from pipelines.settings import PipelineSettings
from training.__main__ import main as training


def _truncate(path: Path) -> None:
    for leftover in path.parent.glob(f"{path.name}-*"):  # SQLite's -wal and -shm
        leftover.unlink()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.fixture
def copy(platform: PipelineSettings, tmp_path: Path, monkeypatch) -> PipelineSettings:
    """The built platform's domain folder and data, copied; the commands run on the copy."""
    repo = tmp_path / platform.feature_repo.name
    shutil.copytree(
        platform.feature_repo, repo, ignore=shutil.ignore_patterns("mlflow*", "__pycache__")
    )
    monkeypatch.setenv("LARDER_FEATURE_REPO", str(repo))
    monkeypatch.delenv("LARDER_DEBUG", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return PipelineSettings(feature_repo=repo, landing=platform.landing)


def _one_line(run: Callable[[], int], capsys, *named: str) -> str:
    assert run() == 1
    said = capsys.readouterr().err.strip()
    assert len(said.splitlines()) == 1 and "Traceback" not in said, said
    for part in named:
        assert part in said, said
    return said


@pytest.mark.parametrize("stage", ["ingest", "validate"])
def test_a_truncated_manifest_is_named_with_how_to_recover(copy, capsys, stage) -> None:
    _truncate(copy.raw / manifest.NAME)
    args = [stage, "--landing", str(copy.landing)] if stage == "ingest" else [stage]
    _one_line(lambda: pipelines(args), capsys, manifest.NAME, "is corrupt", "restore it")


def test_a_truncated_validation_state_is_named(copy, capsys) -> None:
    _truncate(copy.validated / "_state.json")
    _one_line(lambda: pipelines(["validate"]), capsys, "_state.json is corrupt")


def test_a_deleted_registry_makes_materialize_say_to_apply(copy, capsys) -> None:
    registry = state.registry_path(copy.feature_repo)
    assert registry is not None
    registry.unlink()
    said = _one_line(lambda: pipelines(["materialize"]), capsys, str(registry), "is missing")
    assert "python -m pipelines apply" in said
    assert not registry.exists()  # Feast was not let to write an empty one in its place


def test_a_truncated_registry_is_named_and_deleting_it_recovers(copy, capsys) -> None:
    registry = state.registry_path(copy.feature_repo)
    assert registry is not None
    _truncate(registry)
    runs = [["materialize"], ["apply"]]
    for run in [*(lambda a=a: pipelines(a) for a in runs), lambda: training(["train"])]:
        said = _one_line(run, capsys, str(registry), "is corrupt")
        assert "delete it and run `python -m pipelines apply`" in said
    registry.unlink()
    assert pipelines(["apply"]) == 0
    state.check_registry(copy.feature_repo)


def test_a_truncated_online_store_is_named_and_deleting_it_recovers(copy, capsys) -> None:
    online = state.online_path(copy.feature_repo)
    assert online is not None
    _truncate(online)
    _one_line(lambda: pipelines(["materialize"]), capsys, str(online), "is corrupt", "delete it")
    online.unlink()
    assert pipelines(["materialize"]) == 0  # refilled whole, and parity checked
    assert "parity checked on" in capsys.readouterr().out
    state.check_online_store(copy.feature_repo)


@pytest.fixture(scope="module")
def real_mlflow(platform: PipelineSettings) -> Path:
    """The serving tests' MLflow store (a trained champion): read, not written."""
    from tests.serving.conftest import champion_uri

    return Path(champion_uri(platform).removeprefix("sqlite:///"))


@pytest.mark.parametrize("command", [["train", "--budget", "0"], ["promote"], ["rollback"]])
def test_a_truncated_mlflow_store_is_named(copy, capsys, real_mlflow, command) -> None:
    real = real_mlflow
    mlflow_db = copy.data_dir / "mlflow" / "mlflow.db"  # the default store of the copy
    mlflow_db.parent.mkdir()
    shutil.copy(real, mlflow_db)
    _truncate(mlflow_db)
    said = _one_line(lambda: training(command), capsys, str(mlflow_db), "is corrupt")
    assert "restore it from a backup" in said


def test_an_unexpected_error_is_one_line_and_a_debug_setting_shows_it(
    platform, capsys, monkeypatch
) -> None:
    boom = RuntimeError("boom\nsecond line")
    assert unexpected("x", boom, platform.feature_repo) == 1  # its state files are sound
    said = capsys.readouterr().err
    assert said == "[x] failed: RuntimeError: boom (LARDER_DEBUG=1 shows where)\n"
    monkeypatch.setenv("LARDER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        unexpected("x", boom, platform.feature_repo)


def test_a_sound_platform_passes_every_check(platform) -> None:
    state.check_registry(platform.feature_repo)
    state.check_online_store(platform.feature_repo)
    assert state.explain(RuntimeError("x"), platform.feature_repo) is None


def test_an_empty_sqlite_file_is_not_taken_for_a_new_store(tmp_path) -> None:
    empty = tmp_path / "online.db"
    empty.touch()  # SQLite would open it as a new database; no store here leaves one
    assert state.sqlite_problem(empty) == "the file is empty"
    state.check_mlflow(f"sqlite:///{tmp_path / 'absent.db'}")  # may not exist yet: no error
