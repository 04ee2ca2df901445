"""A domain: one folder of declarations (its feature repo), read by the platform.

`load(repo)` imports the folder's Python files and collects what they declare: sources,
derivations, views and one task. Files that import Feast are Feast's (`feast apply` reads
them); the platform skips them, so the stages that need no Feast never pay for importing it.
Files may import each other by name (`import views`), as Feast imports them; each load gives
the folder's modules fresh, so two domains can be loaded in one process.
"""

import ast
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import yaml

from larder.derive import Derivation
from larder.sources import Source
from larder.task import Task
from larder.views import ObservedView, StaticView, View, WindowedView, data_dir

IGNORED = ("data", ".venv", "__pycache__", ".ipynb_checkpoints")


class DomainError(Exception):
    """The domain folder declares something the platform cannot run; the message names it."""


@dataclass(frozen=True, eq=False)
class Domain:
    repo: Path
    project: str  # Feast's project name, from feature_store.yaml
    sources: dict[str, Source]  # referenced tables before the tables that reference them
    derivations: dict[str, Derivation]
    views: dict[str, View]
    task: Task

    @property
    def data_dir(self) -> Path:
        return data_dir(self.repo)

    def windowed(self) -> list[WindowedView]:
        return [v for v in self.views.values() if isinstance(v, WindowedView)]

    def observed(self) -> list[ObservedView]:
        return [v for v in self.views.values() if isinstance(v, ObservedView)]

    def static(self) -> list[StaticView]:
        return [v for v in self.views.values() if isinstance(v, StaticView)]

    def timed_sources(self) -> list[Source]:
        return [s for s in self.sources.values() if not s.is_reference]

    def derived_from(self, table: str) -> set[str]:
        """The source tables a table (source or derivation output) is made from."""
        if table in self.sources:
            return {table}
        return {s for name in self.derivations[table].inputs for s in self.derived_from(name)}


def load(repo: Path) -> Domain:
    """The domain declared in `repo`; DomainError says what is missing or inconsistent."""
    repo = Path(repo).resolve()
    stamps = tuple((p.name, p.stat().st_mtime_ns) for p in platform_files(repo))
    return _load(repo, stamps)


@cache
def _load(repo: Path, stamps: tuple[tuple[str, int], ...]) -> Domain:
    modules = _import(repo, [repo / name for name, _ in stamps])
    found = _collect(modules)
    return _build(repo, found)


def platform_files(repo: Path) -> list[Path]:
    """The folder's Python files that do not import Feast."""
    if not (repo / "feature_store.yaml").is_file():
        raise DomainError(
            f"{repo} is not a domain folder: it has no feature_store.yaml (start one with "
            "`larder init DIR`)"
        )
    return [p for p in sorted(repo.glob("*.py")) if not _imports_feast(p)]


def _imports_feast(path: Path) -> bool:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise DomainError(f"{path}: not valid Python ({exc.msg}, line {exc.lineno})") from None
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if any(name == "feast" or name.startswith("feast.") for name in names):
            return True
    return False


@contextmanager
def _own_modules(repo: Path, names: list[str]) -> Iterator[None]:
    """Imports of `names` (the folder's modules and packages) resolve to this folder's files
    while the block runs; any modules of those names loaded before (another domain's) are put
    back after, and none of this folder's is left behind."""
    before = {m: sys.modules.pop(m) for m in list(sys.modules) if _under(m, names)}
    sys.path.insert(0, str(repo))
    try:
        yield
    finally:
        sys.path.remove(str(repo))
        for name in list(sys.modules):
            if _under(name, names) or _inside(sys.modules[name], repo):
                sys.modules.pop(name, None)
        sys.modules.update(before)


def _under(module: str, names: list[str]) -> bool:
    return module.split(".")[0] in names


def _inside(module: ModuleType, repo: Path) -> bool:
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and Path(file).is_relative_to(repo)


def _import(repo: Path, files: list[Path]) -> list[ModuleType]:
    names = [p.stem for p in repo.glob("*.py")]
    names += [p.parent.name for p in repo.glob("*/__init__.py")]
    modules = []
    with _own_modules(repo, names):
        for path in files:
            try:
                modules.append(importlib.import_module(path.stem))
            except DomainError:
                raise
            except Exception as exc:  # the user's code: say which file, keep the cause
                raise DomainError(
                    f"{path}: importing it failed: {type(exc).__name__}: {exc}"
                ) from exc
    return modules


@dataclass
class _Found:
    sources: list[Source]
    derivations: list[Derivation]
    views: list[View]
    tasks: list[Task]


def _collect(modules: list[ModuleType]) -> _Found:
    found = _Found([], [], [], [])
    seen: set[int] = set()
    kinds = [
        (Source, found.sources),
        (Derivation, found.derivations),
        ((WindowedView, ObservedView, StaticView), found.views),
        (Task, found.tasks),
    ]
    for module in modules:
        for value in vars(module).values():
            for kind, into in kinds:
                if isinstance(value, kind) and id(value) not in seen:  # type: ignore[arg-type]
                    seen.add(id(value))
                    into.append(value)  # type: ignore[attr-defined]
    return found


def _unique(kind: str, names: list[str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DomainError(f"two {kind} are named {repeated}: give each its own name")


def _build(repo: Path, found: _Found) -> Domain:
    if len(found.tasks) != 1:
        named = [t.name for t in found.tasks]
        raise DomainError(
            f"{repo} declares {len(found.tasks)} tasks {named}: a domain declares exactly one "
            "larder.Task"
        )
    _unique("sources", [s.name for s in found.sources])
    _unique("derivations", [d.name for d in found.derivations])
    _unique("views", [v.name for v in found.views])
    clash = {s.name for s in found.sources} & {d.name for d in found.derivations}
    if clash:
        raise DomainError(f"{sorted(clash)} name both a source and a derivation")
    sources = {s.name: s for s in _in_reference_order(found.sources)}
    domain = Domain(
        repo=repo,
        project=_project(repo),
        sources=sources,
        derivations={d.name: d for d in found.derivations},
        views={v.name: v for v in found.views},
        task=found.tasks[0],
    )
    _check(domain)
    return domain


def _project(repo: Path) -> str:
    try:
        config = yaml.safe_load((repo / "feature_store.yaml").read_text())
    except yaml.YAMLError as exc:
        raise DomainError(f"{repo / 'feature_store.yaml'} is not valid YAML: {exc}") from None
    if not isinstance(config, dict) or not config.get("project"):
        raise DomainError(f"{repo / 'feature_store.yaml'} names no `project`")
    return str(config["project"])


def _in_reference_order(sources: list[Source]) -> list[Source]:
    """Referenced tables first (validation checks references against them), else by name."""
    by_name = {s.name: s for s in sources}
    done: list[Source] = []

    def visit(source: Source, path: tuple[str, ...]) -> None:
        if source in done:
            return
        if source.name in path:
            raise DomainError(f"sources reference each other in a cycle: {' -> '.join(path)}")
        for ref in source.references:
            if ref.table not in by_name:
                raise DomainError(
                    f"source {source.name!r}: column {ref.column!r} references table "
                    f"{ref.table!r}, which no source declares"
                )
            visit(by_name[ref.table], (*path, source.name))
        done.append(source)

    for source in sorted(sources, key=lambda s: s.name):
        visit(source, ())
    return done


def _check(domain: Domain) -> None:
    tables = set(domain.sources) | set(domain.derivations)
    for d in domain.derivations.values():
        unknown = [name for name in d.inputs if name not in tables]
        if unknown:
            raise DomainError(
                f"derivation {d.name!r} reads {unknown}: no source or derivation has that name"
            )
    for view in domain.views.values():
        if view.source not in tables:
            raise DomainError(
                f"view {view.name!r} reads {view.source!r}: no source or derivation has that name"
            )
    for source in domain.sources.values():
        if source.known_at and source.known_at.derivation.name not in domain.derivations:
            raise DomainError(f"source {source.name!r}: its known_at derivation is not declared")
    task = domain.task
    if task.examples not in domain.derivations:
        raise DomainError(
            f"task {task.name!r}: examples {task.examples!r} must be a derivation's output"
        )
