"""`python -m monitoring replay [--repo DIR]`: replay the domain's task with a simulated clock:
train the first champion on what was known before the replay's start, then walk to its end a
batch at a time through the whole platform, monitoring each period and retraining by policy.

The clock is the task's `Replay` declaration; options and LARDER_REPLAY_* settings override it.
The reports go to data/reports/replay/ in the domain folder, and the summary page's path is
printed at the end. Exit codes: 0 done, 1 failed (the message says why), 2 bad settings.
"""

import argparse
import os
import sys
from datetime import datetime

from pydantic import ValidationError

from larder import lock
from larder.cli import unexpected
from larder.domain import DomainError
from monitoring.errors import MonitoringError
from monitoring.settings import ReplaySettings
from pipelines.errors import PipelineError
from training.errors import TrainingError


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__)
    cli.add_argument("command", choices=["replay"])
    cli.add_argument("--repo", dest="feature_repo", help="the domain folder (LARDER_FEATURE_REPO)")
    cli.add_argument("--start", type=datetime.fromisoformat, help="first moment replayed (UTC)")
    cli.add_argument("--end", type=datetime.fromisoformat, help="the replay stops here (UTC)")
    cli.add_argument("--port", type=int, help="the prediction server's port")
    args = cli.parse_args(argv)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    given = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    try:
        settings = ReplaySettings(**given)
        settings.clock  # noqa: B018 (the task's Replay with the overrides: checked here)
    except (ValidationError, ValueError) as exc:
        print(f"[replay] bad settings: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"[replay] failed: {exc}", file=sys.stderr)
        return 1
    from monitoring.replay import Replay  # imports Feast and MLflow: after the settings check

    try:
        with lock.writing(settings.data_dir, "python -m monitoring replay"):
            Replay(settings, lambda line: print(line, flush=True)).run()
    except lock.LockedError as exc:
        print(f"[replay] not started: {exc}", file=sys.stderr)
        return 1
    except (MonitoringError, PipelineError, TrainingError, DomainError, FileNotFoundError) as exc:
        print(f"[replay] failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # one line, not a traceback (LARDER_DEBUG=1 shows it)
        return unexpected("replay", exc, settings.replay_repo, settings.tracking_uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
