"""The requirements an image's Python needs beyond what pip resolved on this machine.

`pip download --python-version` picks wheels for the target but judges environment markers by
the Python running pip: redis needs async-timeout below Python 3.11.3, so a resolution made by
3.11.7 leaves it out for Debian bookworm's 3.11.2. Given pip's installation report
(`pip install --dry-run --report`) and the target's version, this prints each requirement whose
marker holds for the target (with the extras the resolution asked of each package) and that
the report does not install, one a line.

    python target_requirements.py REPORT.json 3.11.2
"""

import json
import sys

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def missing(report: dict, version: str) -> list[str]:
    environment = {
        **default_environment(),
        "python_full_version": version,
        "python_version": ".".join(version.split(".")[:2]),
    }
    items = {canonicalize_name(i["metadata"]["name"]): i for i in report["install"]}
    extras = {name: set(i.get("requested_extras") or []) for name, i in items.items()}
    needed: dict[str, Requirement] = {}
    changed = True
    while changed:  # the extras asked of each package, until no new one is asked
        changed = False
        for name, item in items.items():
            for line in item["metadata"].get("requires_dist") or []:
                requirement = Requirement(line)
                if not _holds(requirement, environment, extras[name]):
                    continue
                dependency = canonicalize_name(requirement.name)
                if dependency not in items:
                    needed[dependency] = requirement
                    continue
                if not set(requirement.extras) <= extras[dependency]:
                    extras[dependency] |= set(requirement.extras)
                    changed = True
    return [str(r).split(";")[0].strip() for r in needed.values()]


def _holds(requirement: Requirement, environment: dict, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(
        requirement.marker.evaluate({**environment, "extra": extra}) for extra in extras | {""}
    )


if __name__ == "__main__":
    with open(sys.argv[1]) as file:
        print("\n".join(missing(json.load(file), sys.argv[2])))
