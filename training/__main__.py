"""`python -m training train|tune|evaluate|promote|rollback|card`.

train     the task's labelled examples -> point-in-time frame -> tune, fit, evaluate ->
          MLflow run -> version @challenger (and @champion when there is none yet)
tune      the hyperparameter search alone, as its own MLflow run
evaluate  a registered version and its baseline on the latest held-out period
promote   @challenger vs @champion on the same held-out period; moves @champion or says why not
rollback  @champion back to the version it replaced
card      (re)write the model card of a version
compare   the service's views, its categorical keys and a --reference service, each left
          out or alone, fitted the same way: MLflow runs side by side, AUC differences paired

The domain folder is LARDER_FEATURE_REPO (default: feature_repo/); its task
names the FeatureService, the model and the time split, each overridable by LARDER_* settings.

Exit codes: 0 done, 1 failed (the message says why, naming a broken state file and how to
recover), 2 bad settings, 3 promotion refused. One command at a time writes a data folder
(larder.lock): a second exits naming the first.
"""

import argparse
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from larder import lock, state
from larder.cli import unexpected
from larder.domain import DomainError
from larder.state import StateError
from training import card, promote
from training.errors import TrainingError
from training.report import Report, timed_printer
from training.settings import TrainingSettings
from training.train import train, tune_run

REFUSED = 3


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument(
        "command",
        choices=["train", "tune", "evaluate", "promote", "rollback", "card", "compare"],
    )
    cli.add_argument("--frame", type=Path, help="train/tune/compare: reuse a saved training frame")
    cli.add_argument(
        "--budget", type=int, help="tune/train: candidates to try (LARDER_TUNE_BUDGET)"
    )
    cli.add_argument("--version", help="evaluate/card: a version number (default: by --alias)")
    cli.add_argument("--alias", help="evaluate: champion (default) or challenger; card: challenger")
    cli.add_argument("--reference", help="compare: an earlier FeatureService to pair against")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # MLflow's INFO lines (database migrations) and progress bars would interleave with the
    # steps; set MLFLOW_LOGGING_LEVEL to INFO or DEBUG to see them.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        settings = TrainingSettings()
        if args.budget is not None:
            settings = TrainingSettings(**{**settings.model_dump(), "tune_budget": args.budget})
        settings.split  # noqa: B018 (the task's split with the overrides: checked here)
    except (ValidationError, ValueError) as exc:
        print(f"[{args.command}] bad settings (LARDER_* environment): {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"[{args.command}] failed: {exc}", file=sys.stderr)
        return 1
    try:
        with lock.writing(settings.data_dir, f"python -m training {args.command}"):
            state.check_mlflow(settings.tracking_uri)
            if args.command in ("train", "tune", "compare") and args.frame is None:
                state.check_registry(settings.feature_repo, must_exist=False)  # absent: said later
            return COMMANDS[args.command](settings, args, timed_printer())
    except lock.LockedError as exc:
        print(f"[{args.command}] not started: {exc}", file=sys.stderr)
        return 1
    except (TrainingError, DomainError, StateError) as exc:
        print(f"[{args.command}] failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # one line, not a traceback (LARDER_DEBUG=1 shows it)
        return unexpected(args.command, exc, settings.feature_repo, settings.tracking_uri)


def _train(settings: TrainingSettings, args: argparse.Namespace, report: Report) -> int:
    train(settings, report, args.frame)
    return 0


def _tune(settings: TrainingSettings, args: argparse.Namespace, report: Report) -> int:
    run_id = tune_run(settings, report, args.frame)
    report("mlflow", f"tuning run {run_id} in experiment {settings.experiment!r}")
    return 0


def _evaluate(settings: TrainingSettings, args: argparse.Namespace, report: Report) -> int:
    number, metrics, period = promote.evaluate_version(settings, args.alias, args.version)
    run_id = promote.record_evaluation(settings, metrics, period)
    report(
        "evaluate",
        f"{settings.model} version {number} on {int(metrics['rows'])} held-out examples "
        f"{period['period_start'][:16]} to {period['period_end'][:16]}: "
        + _scores(metrics, "holdout")
        + "; its baseline: "
        + _scores(metrics, "baseline_holdout"),
    )
    report("mlflow", f"evaluation run {run_id}")
    return 0


def _scores(m: dict[str, float], p: str) -> str:
    return (
        f"ROC AUC {m[f'{p}_roc_auc']:.4f} [{m[f'{p}_roc_auc_ci_low']:.4f}, "
        f"{m[f'{p}_roc_auc_ci_high']:.4f}], PR AUC {m[f'{p}_pr_auc']:.4f}, "
        f"log loss {m[f'{p}_log_loss']:.4f}, Brier {m[f'{p}_brier']:.4f}"
    )


def _promote(settings: TrainingSettings, args: argparse.Namespace, report: Report) -> int:
    decision = promote.promote(settings, report)
    _say(decision, report)
    return REFUSED if decision.action == promote.REFUSE else 0


def _rollback(settings: TrainingSettings, args: argparse.Namespace, report: Report) -> int:
    _say(promote.rollback(settings), report)
    return 0


def _say(decision: promote.Decision, report: Report) -> None:
    report(
        decision.action,
        f"champion {decision.champion_before or 'none'} -> {decision.champion_after}; "
        + "; ".join(decision.reasons),
    )
    report("mlflow", f"decision run {decision.run_id}")


def _card(settings: TrainingSettings, args: argparse.Namespace, report: Report) -> int:
    from training import registry

    number = args.version
    if number is None:
        alias = args.alias or registry.CHALLENGER
        found = registry.version_by_alias(registry.client(settings), settings.model, alias)
        if found is None:
            raise promote.RegistryError(f"no {settings.model}@{alias}: pass --version")
        number = str(found.version)
    path = card.write_card(settings, number)
    report("card", f"{settings.model} version {number}: {path} (also logged to its run)")
    return 0


def _compare(settings: TrainingSettings, args: argparse.Namespace, report: Report) -> int:
    from training.compare import compare, markdown

    run_id, table = compare(settings, report, args.reference, args.frame)
    report("mlflow", f"comparison run {run_id} in experiment {settings.model}-comparison")
    print(markdown(table), end="")
    return 0


COMMANDS = {
    "train": _train,
    "tune": _tune,
    "evaluate": _evaluate,
    "promote": _promote,
    "rollback": _rollback,
    "card": _card,
    "compare": _compare,
}


if __name__ == "__main__":
    sys.exit(main())
