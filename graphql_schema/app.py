"""The ASGI application: ``/graphql`` and ``/healthz``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import anyio.to_thread
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crm.db import get_engine, read_only
from crm.db_async import make_async_pool
from crm.db_health import TIMEOUT, database_problem
from crm.importing.runner import ImportRunner
from crm.logging import get_logger
from crm.settings import Settings, get_settings
from crm.webhooks.outbound.delivery import drain
from crm.webhooks.processing import retry_due
from graphql_schema import graphiql, webhooks_http
from graphql_schema.http import CRMGraphQL
from graphql_schema.schema import build_schema

log = get_logger(__name__)


def create_app(*, engine: Engine | None = None, settings: Settings | None = None) -> Starlette:
    """Build the app (uvicorn calls this with ``factory=True``)."""
    settings = settings or get_settings()
    engine = engine or get_engine()
    # the key that encrypts PMS tokens exists from the first start (generated if not configured)
    settings.resolved_secret_key()
    async_pool = make_async_pool(engine, timeout=settings.db_pool_timeout)
    view = CRMGraphQL(
        build_schema(settings),
        engine=engine,
        settings=settings,
        async_pool=async_pool,
        graphql_ide=None if settings.production else "graphiql",
        multipart_uploads_enabled=True,
    )

    health = HealthCheck(read_only(engine), timeout=settings.health_timeout)

    async def healthz(_: Request) -> JSONResponse:
        problem = await health()
        if problem is not None:
            return JSONResponse(
                {"status": "unavailable", "database": problem},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"status": "ok", "database": "up"})

    # background imports without Redis (with Redis, arq's worker runs them)
    runner = (
        None
        if settings.redis_url
        else ImportRunner(engine, processes=settings.import_runner_threads)
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runner is not None:
            runner.start()
            app.state.import_runner = runner
        # webhooks without Redis: outbound sent, failed inbound retried (with Redis, arq's
        # webhooks.deliver and webhooks.retry crons do it)
        every = settings.webhook_send_interval_seconds
        sender = (
            None
            if settings.redis_url or not every
            else asyncio.create_task(_send_webhooks(engine, settings, every))
        )
        if async_pool is not None:
            await async_pool.open()
        try:
            yield
        finally:
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            if async_pool is not None:
                await async_pool.close()
            if runner is not None:
                app.state.import_runner = None
                await run_in_threadpool(runner.stop)

    return Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            *webhooks_http.routes(engine, settings),
            # GraphiQL's assets, served by the app itself (none in production)
            *([] if settings.production else graphiql.routes()),
        ],
        lifespan=lifespan,
    )


class HealthCheck:
    """The database check behind ``/healthz``: off the event loop, answered within
    ``timeout`` seconds (``timeout`` when the database has not answered by then).

    One check runs at a time: while a hung database holds it, later probes wait on the same
    check instead of each taking another thread.
    """

    def __init__(self, engine: Engine, *, timeout: float):
        self.engine = engine
        self.timeout = timeout
        self._running: asyncio.Future[str | None] | None = None

    async def __call__(self) -> str | None:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(
                anyio.to_thread.run_sync(database_problem, self.engine)
            )
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), self.timeout)
        except TimeoutError:
            return TIMEOUT


# objects allocated (net) between young-generation collections in a serving process
SERVING_GC_THRESHOLD = 20_000


def serve_app() -> Starlette:
    """The factory uvicorn runs (``crm serve``): :func:`create_app` in a process that serves.

    A request allocates thousands of short-lived containers, so with the default threshold
    (700) the cycle collector ran every few requests: about 6% of a lookup's CPU. A serving
    process raises the young generation's threshold; cycles are still collected, in larger
    batches. Set here and not in ``create_app``, which tests and tools call in-process.
    """
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(SERVING_GC_THRESHOLD, older, oldest)
    return create_app()


# inbound deliveries due for a retry are looked for every this many send intervals (a minute
# by default, like the worker's webhooks.retry cron)
RETRY_INBOUND_EVERY = 12


async def _send_webhooks(engine: Engine, settings: Settings, every: float) -> None:
    """Deliver due outbound webhooks every ``every`` seconds and retry due inbound deliveries
    every ``RETRY_INBOUND_EVERY`` times that, on a worker thread."""
    ticks = 0
    while True:
        await asyncio.sleep(every)
        ticks += 1
        try:
            await run_in_threadpool(drain, engine, settings=settings)
        except Exception:
            log.exception("crm.webhooks.outbound.sender_failed")
        if ticks % RETRY_INBOUND_EVERY:
            continue
        try:
            await run_in_threadpool(retry_due, engine)
        except Exception:
            log.exception("crm.webhooks.retry_failed")
