"""The contract fingerprint: it changes with what a source is validated against (a rule's code,
the constants and helpers it names, through a module too) and with nothing else, the same in
every process."""

import subprocess
import sys

import pytest

from larder.domain import load
from pipelines.fingerprint import fingerprint
from tests.conftest import FLIGHTS, ROOT, STORMS


@pytest.fixture(scope="module")
def flights():
    return load(FLIGHTS).sources["flights"]


def test_a_constant_a_rule_reads_is_part_of_it(flights, monkeypatch) -> None:
    before = fingerprint(flights, 0.01)
    rule = flights.rules[0]
    monkeypatch.setitem(rule.__globals__, "MAX_TAXI_MINUTES", 200)
    assert fingerprint(flights, 0.01) != before


def test_a_helper_called_through_a_module_is_part_of_it(flights, monkeypatch) -> None:
    before = fingerprint(flights, 0.01)
    derivations = flights.rules[0].__globals__["derivations"]
    monkeypatch.setitem(vars(derivations), "MISSING_TZONES", {"XXX": "UTC"})
    assert fingerprint(flights, 0.01) != before


def test_a_constant_a_contract_check_reads_is_part_of_it(monkeypatch) -> None:
    storms = load(STORMS).sources["storms"]
    before = fingerprint(storms, 0.01)
    check = next(f for f in vars(storms.contract).values() if hasattr(f, "__func__"))
    scope = check.__func__.__globals__
    monkeypatch.setitem(scope, "CATEGORY_WINDS", ((5, 140), *scope["CATEGORY_WINDS"][1:]))
    assert fingerprint(storms, 0.01) != before


def test_the_threshold_is_part_of_it(flights) -> None:
    assert fingerprint(flights, 0.01) != fingerprint(flights, 0.02)


def test_it_is_the_same_in_every_process() -> None:
    code = (
        "from larder.domain import load; from pipelines.fingerprint import fingerprint; "
        f"d = load({str(FLIGHTS)!r}); s = load({str(STORMS)!r}); "
        "print([fingerprint(x, 0.01) for x in [*d.sources.values(), *s.sources.values()]])"
    )
    said = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": "", "TZ": "UTC"},
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(said) == 1
