"""The folder a server's Prometheus metrics live in: its own, shared by its workers alone.

prometheus_client keeps every value in files of the folder PROMETHEUS_MULTIPROC_DIR names, when
that is set as it is first imported, and `/metrics` sums the files of every process found there.
`import feast` sets it to a temporary folder of the importing process, and every process started
from that one inherits the name, so a server started by a job that imported Feast (the replay, a
test run) would add its figures to that job's folder, and answer with the figures of every
process that ever wrote there. `python -m serving` names a folder of its own first (serving/
__main__.py), before anything imports prometheus_client or Feast; its workers inherit it.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

FOLDER = "LARDER_METRICS_DIR"  # a folder to use instead of a new temporary one


def own_folder() -> Path:
    """Point prometheus_client (and Feast) at this server's folder: LARDER_METRICS_DIR emptied
    of an earlier run's files, or a new temporary folder, deleted when the server exits."""
    named = os.environ.get(FOLDER, "").strip()
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # files of processes that no longer run
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="larder-metrics-"))
        atexit.register(shutil.rmtree, folder, True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["PROMETHEUS_MULTIPROCESS_DIR"] = str(folder)
    return folder
