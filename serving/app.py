"""The prediction server: `create_app(settings)` builds it; the store and model load at startup.

A server without a champion model does not start: the error says which model and alias it
looked for and how to provide one, so a broken deployment fails before taking traffic.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI

from serving.deps import FeaturesDep, ModelDep
from serving.features import OnlineFeatures, Reading, find_service, uses_full_names
from serving.model import Champion, load_champion
from serving.schemas import FeatureValue, Flight, Health, ModelInfo, Prediction
from serving.settings import ServingSettings

router = APIRouter()


@router.get("/health")
def health() -> Health:
    return Health()


@router.post("/predict")
def predict(flight: Flight, features: FeaturesDep, model: ModelDep) -> Prediction:
    """P(the flight arrives more than 15 minutes late or is cancelled), with its features.

    An aircraft, carrier or airport the online store doesn't know still gets a prediction;
    its features come back as `not_found` and reach the model as missing values.
    """
    readings = features.read(flight.entity_row())
    used = {name: readings[name] for name in model.feature_names}
    return Prediction(
        delay_probability=model.predict({name: r.value for name, r in used.items()}),
        model=ModelInfo(name=model.name, version=model.version),
        feature_service=features.service.name,
        features={name: _feature_value(r) for name, r in used.items()},
    )


def _feature_value(reading: Reading) -> FeatureValue:
    return FeatureValue(
        value=reading.value, status=reading.status, event_timestamp=reading.event_timestamp
    )


def load(settings: ServingSettings) -> tuple[Champion, OnlineFeatures]:
    """The champion model and the online store read through the service it was trained on."""
    from feast import FeatureStore  # costs seconds: only when the server starts

    model = load_champion(settings.tracking_uri, settings.model_name, settings.model_alias)
    store = FeatureStore(repo_path=str(settings.feature_repo))
    service = find_service(store, model.feature_service)
    full_names = uses_full_names(service, model.feature_names)
    return model, OnlineFeatures(store, service, full_names)


def lifespan_for(
    settings: ServingSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model, app.state.features = load(settings)
        yield
        await app.state.features.store.close()

    return lifespan


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    settings = settings or ServingSettings()
    app = FastAPI(
        title="Flight delay predictions",
        summary="P(arrival > 15 min late or cancelled) from the feature store's online features.",
        lifespan=lifespan_for(settings),
    )
    app.include_router(router)
    return app
