"""The code version a training run records: the repository's commit, or where there is no
repository (a container image), the commit its build was given."""

import re

from training import registry


def test_the_commit_of_this_repository_is_recorded(monkeypatch) -> None:
    monkeypatch.delenv(registry.CODE_VERSION, raising=False)
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", registry.code_version())


def test_a_given_version_wins_and_no_git_is_unknown_not_a_failure(monkeypatch) -> None:
    monkeypatch.setenv(registry.CODE_VERSION, "0123abc+dirty")
    assert registry.code_version() == "0123abc+dirty"
    monkeypatch.delenv(registry.CODE_VERSION)
    monkeypatch.setenv("PATH", "")  # no git to run
    assert registry.code_version() == "unknown"
