"""The platform's packages hold no domain: every domain lives in its own folder."""

import subprocess

from tests.conftest import ROOT

CORE = ["pipelines", "training", "serving", "monitoring", "stores", "larder/*.py"]
WORDS = r"flight|tailnum|carrier|weather|storm|hurricane"


def test_the_core_names_no_domain() -> None:
    """What `git grep -niE 'flight|tailnum|carrier|weather|storm|hurricane'` finds in the core:
    only comments and docstrings that say "for example", or "e.g."."""
    done = subprocess.run(
        ["git", "grep", "-niE", WORDS, "--", *CORE], cwd=ROOT, capture_output=True, text=True
    )
    found = [line for line in done.stdout.splitlines() if line.strip()]
    named = [line for line in found if not _an_example(line)]
    assert named == [], "\n".join(named)


def _an_example(line: str) -> bool:
    text = line.split(":", 2)[-1].lower()
    return "e.g." in text or "for example" in text
