"""`larder init DIR`: a minimal working domain folder, as `feast init` writes a working repo.

It holds one source with a small CSV of example data, its contract, one derivation, one
windowed view, one task and a README: `make run REPO=DIR` runs it at once.
"""

import re
import shutil
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "template"
FILLED = ("feature_store.yaml", "README.md")


class InitError(Exception):
    """The folder cannot be written: the message says why."""


def project_name(folder: Path) -> str:
    """Feast's project name for a folder: letters, digits and underscores."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", folder.resolve().name).strip("_") or "domain"
    return name if name[0].isalpha() else f"d_{name}"


def init(folder: Path) -> list[Path]:
    """Write the template into `folder` (which must be absent or empty); the files written."""
    if folder.exists() and any(folder.iterdir()):
        raise InitError(f"{folder} is not empty: give a new folder for the domain")
    shutil.copytree(TEMPLATE, folder, dirs_exist_ok=True, ignore=_ignored)
    values = {"{project}": project_name(folder), "{folder}": str(folder)}
    for name in FILLED:
        path = folder / name
        text = path.read_text()
        for key, value in values.items():
            text = text.replace(key, value)
        path.write_text(text)
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _ignored(_: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("__pycache__", "data")]
