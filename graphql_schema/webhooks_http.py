"""``/webhooks/{provider}/{endpoint_id}``: the inbox's HTTP side.

The body is read in chunks and refused (413) as soon as it passes ``CRM_WEBHOOK_MAX_BYTES``;
verification and storage run off the event loop; the answer is sent once the delivery is
committed. Processing follows: on Redis as the ``webhooks.process`` job, else in a
background task after the response.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from crm.logging import get_logger
from crm.settings import Settings
from crm.webhooks import inbox, processing

log = get_logger(__name__)


class TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class Queue:
    """The ``webhooks.process`` jobs of stored deliveries, on one arq pool per event loop kept
    for the app's life (a pool made for each delivery, a new Redis connection every time, was
    most of a delivery's cost under load).

    One job per ``SLOT`` seconds, not one per delivery: the first delivery stored in a slot
    queues ``webhooks.process`` to start when the slot ends (job id ``webhooks.process:slot:N``,
    the same from every API process of the queue); the job processes it and every delivery
    still waiting (``processing.process_job``), so each one stored in the slot, committed
    before the slot ended, is taken. The later deliveries of the slot cost no Redis call at all.
    """

    SLOT = 0.25
    clock = staticmethod(time.time)

    def __init__(self, redis_url: str, queue_name: str | None):
        self.redis_url = redis_url
        self.queue_name = queue_name
        self._slot = -1
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    async def _pool(self) -> Any:
        from arq.connections import create_pool

        from jobs.worker import QUEUE_NAME, redis_settings_for

        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = await create_pool(
                redis_settings_for(self.redis_url), default_queue_name=QUEUE_NAME
            )
            if loop in self._pools:  # another request made one meanwhile
                await pool.aclose()
            else:
                self._pools[loop] = pool
        return self._pools[loop]

    def job_id(self, slot: int) -> str:
        # arq's job ids are one namespace per Redis, whatever the queue: a queue of its own
        # (another deployment's, a test's) has slot jobs of its own
        suffix = f":{self.queue_name}" if self.queue_name else ""
        return f"webhooks.process:slot:{slot}{suffix}"

    async def enqueue(self, delivery_id: str) -> None:
        """Called once ``delivery_id`` is committed (after the answer)."""
        slot = int(self.clock() / self.SLOT)
        if slot == self._slot:
            return  # this slot's job, still to start, will take it
        self._slot = slot
        try:
            pool = await self._pool()
            await pool.enqueue_job(
                "webhooks.process",
                delivery_id,
                _job_id=self.job_id(slot),
                _queue_name=self.queue_name,
                _defer_until=datetime.fromtimestamp((slot + 1) * self.SLOT, UTC),
            )
        except Exception as exc:  # the delivery is stored: the retry sweep picks it up
            self._slot = -1
            self._pools.pop(asyncio.get_running_loop(), None)
            log.warning(
                "crm.webhooks.enqueue_failed", delivery_id=delivery_id, error=type(exc).__name__
            )


def routes(engine: Engine, settings: Settings, *, queue_name: str | None = None) -> list[Route]:
    """The webhook routes of the app (``queue_name``: the arq queue, default the worker's)."""
    queue = Queue(settings.redis_url, queue_name) if settings.redis_url else None

    async def deliver(request: Request) -> Response:
        provider = request.path_params["provider"]
        endpoint_id = request.path_params["endpoint_id"]
        try:
            body = await _body(request, settings.webhook_max_bytes)
        except TooLarge:
            return JSONResponse({"error": "PAYLOAD_TOO_LARGE"}, status_code=413)
        receipt = await run_in_threadpool(
            inbox.receive,
            engine,
            provider=provider,
            endpoint_id=endpoint_id,
            body=body,
            headers=dict(request.headers),
            query=dict(request.query_params),
        )
        content: dict[str, object] = {
            "status": "accepted" if receipt.status_code < 300 else "refused"
        }
        if receipt.delivery_id is not None:
            content["delivery"] = str(receipt.delivery_id)
        if receipt.duplicate:
            content["duplicate"] = True
        if receipt.reason:
            content["reason"] = receipt.reason
        task = None
        if receipt.to_process and receipt.delivery_id is not None:
            ident = str(receipt.delivery_id)
            if queue is not None:
                task = BackgroundTask(queue.enqueue, ident)
            else:
                task = BackgroundTask(run_in_threadpool, processing.process_delivery, engine, ident)
        return JSONResponse(content, status_code=receipt.status_code, background=task)

    async def handshake(request: Request) -> Response:
        status, text = await run_in_threadpool(
            inbox.verify_handshake,
            engine,
            provider=request.path_params["provider"],
            endpoint_id=request.path_params["endpoint_id"],
            query=dict(request.query_params),
        )
        return PlainTextResponse(text, status_code=status)

    return [
        Route("/webhooks/{provider}/{endpoint_id}", deliver, methods=["POST"]),
        Route("/webhooks/{provider}/{endpoint_id}", handshake, methods=["GET"]),
    ]
