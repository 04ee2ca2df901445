"""The deployment tier a domain runs on: its feature_store.yaml, or that file with a tier's
overlay merged over it.

With `LARDER_TIER` unset, every store is the domain's own `feature_store.yaml`, exactly.
`LARDER_TIER` names a tier folder holding a `feature_store.yaml` overlay (e.g.
`deploy/tiers/redis`) or such a YAML file. Each top-level block of the overlay (say
`online_store`, `registry`) replaces the domain's block whole; the rest (project, offline store,
batch engine) stays the domain's, and the domain's files are never edited. The merged file is
written to the domain's data folder (`data/tiers/<tier>.yaml`), for the SDK and the `feast` CLI
alike.

Values in an overlay may read the environment as `${NAME:-default}`. The merged file keeps
`${NAME}` (Feast substitutes it when it loads the file, so no password lands on disk), and
`environment()` gives each unset NAME its default (the localhost of `make services-up`).
"""

import os
import re
from pathlib import Path
from typing import Any

import yaml

from larder.views import data_dir

TIER = "LARDER_TIER"
OVERLAY = "feature_store.yaml"
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


class TierError(Exception):
    """The tier's overlay is missing or malformed; the message says which and why."""


def overlay_file() -> Path | None:
    """The overlay LARDER_TIER names (a tier folder's feature_store.yaml, or a YAML file)."""
    named = os.environ.get(TIER, "").strip()
    if not named:
        return None
    path = Path(named).expanduser().resolve()
    found = path / OVERLAY if path.is_dir() else path
    if not found.is_file():
        raise TierError(f"{TIER}={named}: no {found} (name a tier folder under deploy/tiers)")
    return found


def tier_name() -> str | None:
    found = overlay_file()
    if found is None:
        return None
    return found.parent.name if found.name == OVERLAY else found.stem


def _read(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TierError(f"cannot read {path}: {exc}") from None
    if not isinstance(config, dict):
        raise TierError(f"{path} is not a Feast configuration (a YAML mapping)")
    return config


def _overlay(path: Path) -> tuple[str, dict[str, str]]:
    """The overlay's text with `${NAME:-default}` as `${NAME}`, and the defaults."""
    text = path.read_text()
    defaults = {m.group(1): m.group(2) for m in _VARIABLE.finditer(text) if m.group(2) is not None}
    return _VARIABLE.sub(lambda m: "${" + m.group(1) + "}", text), defaults


def environment() -> dict[str, str]:
    """The tier's variables that are unset in this process, at their defaults."""
    found = overlay_file()
    if found is None:
        return {}
    _, defaults = _overlay(found)
    return {name: value for name, value in defaults.items() if name not in os.environ}


def merged(repo: Path) -> dict[str, Any]:
    """The domain's configuration with the tier's blocks in place of its own (unresolved)."""
    domain = _read(repo / "feature_store.yaml")
    found = overlay_file()
    if found is None:
        return domain
    text, _ = _overlay(found)
    blocks = yaml.safe_load(text) or {}
    if not isinstance(blocks, dict) or "project" in blocks:
        raise TierError(f"{found} must be a mapping of Feast blocks, without `project`")
    return {**domain, **blocks}


def resolved(repo: Path) -> dict[str, Any]:
    """`merged`, its `${NAME}` read from the environment (or the tier's defaults)."""
    values = {**environment(), **os.environ}
    text = yaml.safe_dump(merged(repo), sort_keys=False)
    return yaml.safe_load(_VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text))


def config_file(repo: Path) -> Path:
    """The feature_store.yaml Feast is to load for `repo` on this tier."""
    if overlay_file() is None:
        return repo / "feature_store.yaml"
    target = data_dir(repo) / "tiers" / f"{tier_name()}.yaml"
    text = yaml.safe_dump(merged(repo), sort_keys=False)
    if not target.is_file() or target.read_text() != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text)
        partial.replace(target)  # other processes read the old file or the new, never half
    return target


def feast_cli(repo: Path) -> tuple[list[str], dict[str, str]]:
    """The `feast` CLI's options and extra environment for `repo` on this tier."""
    if overlay_file() is None:
        return [], {}
    return ["--feature-store-yaml", str(config_file(repo))], environment()


def open_store(repo: Path) -> Any:
    """Feast's FeatureStore for `repo` on this tier (every platform stage opens it here)."""
    from feast import FeatureStore  # costs seconds: only where needed

    if overlay_file() is None:
        return FeatureStore(repo_path=str(repo))
    for name, value in environment().items():
        os.environ.setdefault(name, value)  # Feast substitutes ${NAME} from the environment
    return FeatureStore(repo_path=str(repo), fs_yaml_file=config_file(repo))
