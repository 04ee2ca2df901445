"""`larder` (or `python -m larder`): the platform's own commands.

    larder init DIR     write a minimal working domain folder (then `make run REPO=DIR`)
    larder show [DIR]   what a domain folder declares (default: LARDER_FEATURE_REPO, else
                        feature_repo/)

The stages have their own commands: `python -m pipelines`, `python -m training`,
`python -m serving`, `python -m monitoring`; `make run REPO=DIR` runs them all.
"""

import argparse
import os
import sys
from pathlib import Path

from larder.domain import DomainError, load
from larder.init import InitError, init

ROOT = Path(__file__).resolve().parent.parent


def _init(args: argparse.Namespace) -> int:
    written = init(args.folder)
    print(f"wrote the domain {args.folder} ({len(written)} files): run it with", flush=True)
    print(f"  make run REPO={args.folder}")
    return 0


def _show(args: argparse.Namespace) -> int:
    repo = args.folder or Path(os.environ.get("LARDER_FEATURE_REPO", ROOT / "feature_repo"))
    domain = load(repo)
    task = domain.task
    print(f"domain {domain.project} ({domain.repo})")
    for source in domain.sources.values():
        kind = "reference" if source.is_reference else f"timed by {source.time}"
        print(f"  source {source.name}: {len(source.schema)} columns, key {source.key}, {kind}")
    for derived in domain.derivations.values():
        print(f"  derivation {derived.name}({', '.join(derived.inputs)})")
    for view in domain.views.values():
        print(
            f"  {type(view).__name__} {view.name} on {view.source}: {len(view.features())} features"
        )
    print(f"  task {task.name}: {task.description}; service {task.feature_service}")
    return 0


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(
        prog="larder", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = cli.add_subparsers(dest="command", required=True)
    start = commands.add_parser("init", help="write a minimal working domain folder")
    start.add_argument("folder", type=Path)
    start.set_defaults(run=_init)
    show = commands.add_parser("show", help="what a domain folder declares")
    show.add_argument("folder", type=Path, nargs="?")
    show.set_defaults(run=_show)
    args = cli.parse_args(argv)
    try:
        return args.run(args)
    except (InitError, DomainError) as exc:
        print(f"larder {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
