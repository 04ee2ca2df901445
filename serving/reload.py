"""What is being served (champion + its FeatureService's read plan), and reloading it.

The app holds one `Served`; a reload builds a new one completely (model loaded, contract
checked, plan resolved, one prediction answered) and then swaps the reference, so a request
under way finishes with the model it started with and no request ever sees half a reload. A
reload that fails keeps the old model serving and says why.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from feast import FeatureService, FeatureStore

from larder import state
from larder.cli import debug
from serving.batcher import Batcher
from serving.errors import ModelContractError
from serving.metrics import model_served
from serving.model import Champion, champion_version, load_champion
from serving.online import OnlineReader, Plan, plan_for
from serving.predict import warm_up
from serving.requests import Schemas, for_service
from serving.settings import ServingSettings
from training.contract import find_service
from training.errors import ContractError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    champion: Champion
    service: FeatureService
    plan: Plan
    schemas: Schemas  # the /predict request and response models of this service
    batcher: Batcher = field(compare=False)


def serve(store: FeatureStore, champion: Champion, settings: ServingSettings) -> Served:
    """Refuses a champion whose recorded FeatureService or feature types differ from the
    registry's now (the check is training's: it defines what a version records)."""
    which = f"{champion.name} version {champion.version}"
    try:
        service = find_service(store, champion.feature_service)
        champion.contract.check(store)
    except ContractError as exc:
        raise ModelContractError(f"{which}: {exc}") from exc
    plan = plan_for(store, service, champion.contract.full_names)
    schemas = for_service(store, service, settings.task, settings.feature_repo)
    return Served(champion, service, plan, schemas, Batcher(champion))


def load_served(settings: ServingSettings, store: FeatureStore) -> Served:
    """The champion, served: its contract checked and one prediction answered (warm_up)."""
    champion = load_champion(settings.tracking_uri, settings.model, settings.model_alias)
    served = serve(store, champion, settings)
    warm_up(served, OnlineReader(store), settings.task)
    return served


class Reloader:
    """Moves `holder.served` to the version the alias points at, when it has moved."""

    def __init__(self, settings: ServingSettings, holder) -> None:
        self.settings = settings
        self.holder = holder
        self._lock = asyncio.Lock()

    async def reload(self) -> bool:
        """True when a new version was loaded; raises ServingError, keeping the old one."""
        s = self.settings
        async with self._lock:
            current = self.holder.served.champion.version
            version = await asyncio.to_thread(
                champion_version, s.tracking_uri, s.model, s.model_alias
            )
            if version == current:
                return False
            self.holder.served = served = await asyncio.to_thread(load_served, s, self.holder.store)
            model_served(served.champion.name, served.champion.version, current)
            logger.info("serving %s version %s (was %s)", s.model, version, current)
            return True

    async def poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            try:
                await asyncio.to_thread(self.holder.store.refresh_registry)
                self.holder.plans.clear()
                await self.reload()
            except Exception as exc:  # a bad registry state must not stop serving the model
                await asyncio.to_thread(self._failed, exc)  # its checks read files

    def _failed(self, exc: Exception) -> None:
        """One line per failed poll (each poll would repeat a traceback), naming what broke."""
        if debug():
            logger.error("model reload failed; still serving the previous version", exc_info=exc)
            return
        s = self.settings
        said = state.explain(exc, s.feature_repo, s.tracking_uri) or (
            f"{type(exc).__name__}: {state.first_line(exc)}"
        )
        logger.error("model reload failed; still serving the previous version: %s", said)
