"""Reading a domain folder: what it declares is collected, files that import Feast are left to
Feast, sibling modules of two domains never mix, and a folder that declares something the
platform cannot run gets one message naming it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from larder.domain import DomainError, load, platform_files
from tests.conftest import FLIGHTS, ROOT, STORMS


def test_both_domains_declare_sources_views_and_one_task() -> None:
    flights, storms = load(FLIGHTS), load(STORMS)
    assert flights.project == "flights" and storms.project == "storms"
    assert set(flights.sources) == {"airlines", "airports", "flights", "planes", "weather"}
    assert list(flights.sources)[:2] == ["airlines", "airports"]  # referenced tables first
    assert flights.task.name == "flight_delay" and storms.task.name == "hurricane_24h"
    assert {"storm_track", "storm_history", "basin_activity"} <= set(storms.views)
    assert flights.derived_from("aircraft_legs") == {"flights", "airports"}


def test_files_that_import_feast_are_feasts() -> None:
    names = [p.name for p in platform_files(FLIGHTS)]
    assert "flights.py" not in names and {"sources.py", "views.py", "task.py"} <= set(names)


def test_loading_a_domain_imports_no_feast() -> None:
    code = (
        "import sys; from larder.domain import load; "
        f"load({str(STORMS)!r}); load({str(FLIGHTS)!r}); "
        "print('feast' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_two_domains_with_files_of_the_same_names_stay_apart() -> None:
    # both folders have a `views.py` and a `derivations.py`, imported by name
    storms, flights = load(STORMS), load(FLIGHTS)
    assert "storm_track" in storms.views and "storm_track" not in flights.views
    assert "views" not in sys.modules  # nothing left behind under the shared names


def test_two_domains_with_packages_of_the_same_name_stay_apart(tmp_path) -> None:
    for which in ("a", "b"):
        repo = _copy(tmp_path / which)
        (repo / "helpers").mkdir()
        (repo / "helpers" / "__init__.py").write_text(f"NAME = {which!r}\n")
        with (repo / "derivations.py").open("a") as file:
            file.write(f"\nimport helpers as _helpers\n\nassert _helpers.NAME == {which!r}\n")
        load(repo)  # b's would fail if a's `helpers` were still imported
        assert "helpers" not in sys.modules


def _copy(tmp_path: Path, repo: Path = FLIGHTS) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return copy


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda r: (r / "feature_store.yaml").unlink(), "no feature_store.yaml"),
        (lambda r: (r / "task.py").unlink(), "declares 0 tasks"),
        (
            lambda r: (r / "again.py").write_text((r / "task.py").read_text()),
            "declares 2 tasks",
        ),
        (
            lambda r: _edit(r / "views.py", 'source="flight_outcomes"', 'source="nowhere"', 1),
            "reads 'nowhere'",
        ),
        (
            lambda r: _edit(
                r / "sources.py", 'Reference("origin", "airports"', 'Reference("origin", "gates"'
            ),
            "references table 'gates'",
        ),
        (lambda r: (r / "broken.py").write_text("def (:\n"), "broken.py: not valid Python"),
        (lambda r: (r / "raising.py").write_text("1 / 0\n"), "raising.py: importing it failed"),
        (
            lambda r: _edit(r / "task.py", 'examples="flight_outcomes"', 'examples="flights"'),
            "must be a derivation's output",
        ),
        (
            lambda r: _edit(r / "sources.py", "    contract=Airlines,\n", ""),
            r"sources.py: importing it failed: TypeError: .*'contract'",
        ),
        (
            lambda r: _edit(r / "sources.py", 'partition=Monthly(year="year", month="month"),', ""),
            "source 'weather' has rows in time but no partition",
        ),
    ],
    ids=["no yaml", "no task", "two tasks", "unknown source", "unknown reference", "syntax",
         "raises", "examples", "no contract", "no partition"],
)  # fmt: skip
def test_a_folder_the_platform_cannot_run_is_named(tmp_path, change, complaint) -> None:
    repo = _copy(tmp_path)
    change(repo)
    with pytest.raises(DomainError, match=complaint):
        load(repo)


def _edit(path: Path, old: str, new: str, count: int = -1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def test_show_lists_what_a_folder_declares(capsys) -> None:
    from larder.__main__ import main

    assert main(["show", str(STORMS)]) == 0
    said = capsys.readouterr().out
    assert "source storms" in said and "task hurricane_24h" in said
    assert "WindowedView basin_activity on storm_tracks" in said
