"""The prediction server: `create_app(settings)` builds it; the store and model load at startup.

A server whose start fails (serving/startup.py: no champion, a broken state file, a model whose
artifacts are gone, a first read or prediction that fails) does not start: the error says what
is missing and how to provide it, so a broken deployment fails before taking traffic.

Every request passes ObservedMiddleware (metrics, limits, the last resort for failures), then
CheckedBodies (serving/bodies.py: what a body may be, parsed once), then the fast path, then
FastAPI. Every error answer is JSON, `{"detail": ...}` (serving/faults.py).

Endpoints: GET /health, /ready, /metrics; POST /get-online-features (Feast's feature-server
API, so Feast's `remote` online store works against it), /predict, /predict/batch; with
LARDER_ADMIN_TOKEN, POST /push and /admin/reload.
"""

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from larder.cli import debug
from serving.answers import online_features, parsed, prediction, predictions
from serving.auth import AdminAuth, ReadAuth
from serving.bodies import PARSED, CheckedBodies
from serving.deps import (
    PlansDep,
    ReloaderDep,
    ServingDep,
    SettingsDep,
    at_most,
    unprocessable,
)
from serving.errors import ServingError
from serving.fastpath import FastReads
from serving.faults import http_failed, validation_failed
from serving.metrics import FLUSH_S, SERVED, exposition, model_served
from serving.middleware import ObservedMiddleware
from serving.openapi import with_predict_schemas
from serving.plans import Plans
from serving.prediction_log import PredictionLog
from serving.push import push as push_rows
from serving.readiness import Readiness
from serving.reload import Reloader
from serving.schemas import (
    Health,
    ModelInfo,
    OnlineFeaturesRequest,
    OnlineFeaturesResponse,
    PushedView,
    PushRequest,
    PushResponse,
    Ready,
    Reloaded,
)
from serving.settings import ServingSettings
from serving.startup import failure_line, start

router = APIRouter()
reads = APIRouter(dependencies=[ReadAuth])
admin = APIRouter(dependencies=[AdminAuth])


# Probes are async: a plain `def` route costs a hop to a worker thread per request.
@router.get("/health")
async def health() -> Health:
    return Health()


@router.get("/ready", responses={503: {"description": "Not ready: `detail` says why"}})
async def ready(request: Request) -> Ready:
    """The model and the store answered a first read and prediction (the app does not start
    until they do), and the online store passes SQLite's quick_check."""
    state = request.app.state
    readiness: Readiness | None = getattr(state, "readiness", None)  # set once started
    problem = "the server is starting" if readiness is None else await readiness.problem()
    if problem:
        raise HTTPException(503, f"not ready: {problem}")
    champion = state.served.champion
    model = ModelInfo(name=champion.name, version=champion.version)
    return Ready(model=model, feature_service=state.served.service.name)


@router.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)


@reads.post("/get-online-features", response_model=OnlineFeaturesResponse)
async def get_online_features(body: OnlineFeaturesRequest, serving: ServingDep) -> Response:
    """Feast's `feast serve` API; values older than their view's ttl at `as_of` are withheld."""
    return Response(await online_features(body, serving), media_type="application/json")


@reads.post("/predict")
async def predict(request: Request, serving: ServingDep) -> Response:
    """The task's probability for one request, with the features the model used.

    The body holds the served FeatureService's join keys and request fields (its schema is in
    this page's OpenAPI). Features are read as of the prediction time (the task's time minus
    its lead): older than their view's ttl then, they are `outside_max_age` and reach the model
    as missing. An unknown entity still gets a prediction, its features `not_found`.
    """
    schemas = serving.served.schemas
    answer = await prediction(parsed(schemas.request, request.scope.get(PARSED)), serving)
    return Response(schemas.dump.dump_json(answer), media_type="application/json")


@reads.post("/predict/batch")
async def predict_batch(request: Request, serving: ServingDep) -> Response:
    """`{"rows": [...]}`, up to LARDER_MAX_BATCH requests in one call, each as /predict
    answers it."""
    schemas = serving.served.schemas
    body = parsed(schemas.batch, request.scope.get(PARSED))
    rows = body.rows  # type: ignore[attr-defined]
    at_most(len(rows), serving.settings.max_batch, "rows", "LARDER_MAX_BATCH")
    answer = {"predictions": await predictions(rows, serving)}
    return Response(schemas.dump_batch.dump_json(answer), media_type="application/json")


@admin.post("/push")
async def push(body: PushRequest, plans: PlansDep, settings: SettingsDep) -> PushResponse:
    """Write rows through a Feast PushSource; a row older than the stored one is skipped."""
    at_most(max(map(len, body.df.values())), settings.max_entities, "rows", "LARDER_MAX_ENTITIES")
    lock = settings.data_dir / "online" / ".push.lock"
    with unprocessable():
        pushed = await run_in_threadpool(
            push_rows, plans.store, body.push_source_name, body.df, lock
        )
    return PushResponse(views=[PushedView(**p.__dict__) for p in pushed])


@admin.post("/admin/reload")
async def reload(reloader: ReloaderDep, plans: PlansDep) -> Reloaded:
    """Reload the registry, and the champion if its alias has moved (also done on a timer)."""
    await run_in_threadpool(plans.store.refresh_registry)
    plans.clear()
    champion = reloader.holder.served.champion
    try:
        reloaded = await reloader.reload()
    except ServingError as exc:
        raise HTTPException(503, f"still serving version {champion.version}: {exc}") from exc
    champion = reloader.holder.served.champion
    return Reloaded(
        reloaded=reloaded, model=ModelInfo(name=champion.name, version=champion.version)
    )


def lifespan_for(
    settings: ServingSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        try:
            started = start(settings)
        except Exception as exc:  # uvicorn logs this line (serving/middleware.py)
            state.startup_failure = failure_line(exc, settings)
            raise
        state.settings, state.store, state.served = settings, started.store, started.served
        model_served(started.served.champion.name, started.served.champion.version)
        limit_threads(settings.model_threads)
        state.reader, state.plans = started.reader, Plans(state.store)
        state.reloader = Reloader(settings, state)
        state.readiness = Readiness(settings.feature_repo, settings.integrity_check_s)
        state.log = PredictionLog(
            settings.prediction_log, settings.log_batch_rows, settings.log_flush_s
        )
        state.log.start()
        poll = asyncio.create_task(state.reloader.poll()) if settings.reload_interval_s else None
        tallies = asyncio.create_task(_flush_metrics())
        settle_heap()
        favour_requests()
        try:
            yield
        finally:
            for task in (poll, tallies):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            SERVED.flush()
            state.log.close()
            await state.store.close()

    return lifespan


async def _flush_metrics() -> None:
    """Adds what this worker served to the metrics files every FLUSH_S (serving/metrics.py)."""
    while True:
        await asyncio.sleep(FLUSH_S)
        SERVED.flush()


def settle_heap() -> None:
    """Move what start-up built (Feast's registry, the model, the libraries: about half a
    million objects) out of the garbage collector's sight. Otherwise every full collection
    walks all of it and stalls the worker's requests for about 350 ms, the tail spikes of a
    loaded server; after `gc.freeze()` a full collection takes a few milliseconds. A reload
    builds a new model later, which the collector tracks as usual."""
    gc.collect()
    gc.freeze()


GIL_SWITCH_S = 0.0005


def favour_requests() -> None:
    """Let the event loop take the GIL back from a busy background thread within half a
    millisecond, not Python's default 5 ms.

    The prediction log's thread converts each batch (milliseconds of Python work) and a
    reload loads a model. While such a thread runs, the loop waits for the GIL each time a
    request gives it up (a SQLite read, a socket write): at 5 ms a wait, a request can take
    tens of milliseconds longer, the tail of a loaded server. Only threads that compete for
    the GIL switch more often."""
    sys.setswitchinterval(GIL_SWITCH_S)


def limit_threads(threads: int) -> None:
    """One-row predictions only get slower with more OpenMP threads on a busy machine.

    After the model is loaded: threadpoolctl limits only the libraries already loaded.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    settings = settings or ServingSettings()
    task = settings.task
    app = FastAPI(
        title=f"larder: {task.name} predictions",
        summary=f"{task.description}, from the feature store's online features.",
        lifespan=lifespan_for(settings),
    )
    app.openapi = lambda: with_predict_schemas(app)  # type: ignore[method-assign]
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(StarletteHTTPException, http_failed)
    app.add_middleware(FastReads)  # inside ObservedMiddleware: measured and limited alike
    app.add_middleware(CheckedBodies)
    app.add_middleware(
        ObservedMiddleware,
        timeout_s=settings.request_timeout_s,
        max_body_bytes=settings.max_body_bytes,
    )
    for part in (router, reads, admin):
        app.include_router(part)
    return app


def worker_app() -> FastAPI:
    """`create_app` for a uvicorn worker (settings from the environment). A failure here would
    make uvicorn restart the worker forever: it is one line and uvicorn's startup-failure
    status instead, which stops the parent."""
    from uvicorn.config import STARTUP_FAILURE

    settings = None
    try:
        settings = ServingSettings()
        return create_app(settings)
    except Exception as exc:
        if debug():
            raise
        said = failure_line(exc, settings) if settings else " ".join(str(exc).split())
        print(f"python -m serving worker: {said}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from None
