"""Named moments where the crash tests kill training: `LARDER_CRASH_AT=<name>` makes the process
SIGKILL itself there, as a power cut or the OOM killer would, with nothing cleaned up.

    logged           the model is logged, the training run still open, nothing registered
    registered       the version exists with all its tags, @challenger not moved yet
    decision-draft   a decision run exists without its params and metrics
    decision-made    the decision is recorded whole (`state` pending), the alias not moved
    decision-moved   the alias has moved, the decision not yet marked done

Unset (always, outside the tests), `crash_point` is one environment lookup.
"""

import os
import signal

VARIABLE = "LARDER_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
