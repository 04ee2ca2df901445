"""Read plans, resolved from the registry once per (features, full names) and then reused."""

from feast import FeatureStore

from serving.errors import BadReadError
from serving.online import Plan, plan_for

MAX_PLANS = 1024  # distinct feature lists; past it the cache starts over (no unbounded growth)


class Plans:
    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self._plans: dict[tuple, Plan] = {}

    def get(self, service: str | None, features: list[str], full: bool) -> Plan:
        key = (service, tuple(features), full)
        plan = self._plans.get(key)
        if plan is None:
            plan = plan_for(self.store, self._service(service) if service else features, full)
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def clear(self) -> None:
        self._plans = {}

    def _service(self, name: str):
        from feast.errors import FeatureServiceNotFoundException

        try:
            return self.store.get_feature_service(name, allow_cache=True)
        except FeatureServiceNotFoundException as exc:
            raise BadReadError(f"the registry has no feature service {name!r}") from exc
