"""What a server does before it takes traffic, the same in the parent process (`python -m serving`
checks it before starting workers) and in each worker (the app's lifespan): its state files are
sound (larder.state: the registry parses, the online store and the MLflow store pass SQLite's
quick_check), the Feast store opens, the champion loads and meets its contract, and one real
online read and one prediction answer (serving/predict.py's warm_up).

A failure is `failure_line`: one line naming what is broken and how to recover.
"""

from dataclasses import dataclass
from typing import Any

from larder import state, tier
from larder.domain import DomainError
from serving.errors import ServingError
from serving.online import OnlineReader
from serving.reload import Served, load_served
from serving.settings import ServingSettings
from training.errors import ContractError

KNOWN = (ServingError, state.StateError, DomainError, ContractError)  # their messages say it all


@dataclass(frozen=True)
class Started:
    store: Any  # a feast.FeatureStore
    served: Served
    reader: OnlineReader


def start(settings: ServingSettings) -> Started:
    repo = settings.feature_repo
    state.check_registry(repo)
    state.check_online_store(repo)
    state.check_mlflow(settings.tracking_uri)
    store = open_store(settings)
    return Started(store, load_served(settings, store), OnlineReader(store))


def open_store(settings: ServingSettings) -> Any:
    return tier.open_store(settings.feature_repo)  # costs seconds: only when the server starts


def failure_line(exc: BaseException, settings: ServingSettings) -> str:
    """What stopped the start, in one line: the error's own message when it is one of ours,
    else the state file that is broken, else the error's first line."""
    if isinstance(exc, KNOWN):
        said = str(exc)
    else:
        found = state.explain(exc, settings.feature_repo, settings.tracking_uri)
        said = found or (
            f"{type(exc).__name__}: {state.first_line(exc)} (LARDER_DEBUG=1 shows where)"
        )
    return " ".join(said.split())
