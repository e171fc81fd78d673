"""PMS sync as jobs: one connection (``pms.sync``) and the every-minute check of who is due.

``pms.sync`` carries the job id ``pms.sync:<connection id>``, so a connection has one sync
queued or running at a time; its result is not kept, so the id is free again once it ends.
A failing connection is not due again for 1, 2, 4... 60 minutes (``crm.pms.sync``).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from arq.cron import CronJob, cron

from crm.db import session_scope
from crm.errors import ErrorCode, ServiceError
from crm.logging import get_logger
from crm.pms.schedule import due_connections, run_summary
from crm.pms.sync import sync_connection

log = get_logger(__name__)

CRON_NAME = "pms.sync_due"
# a first sync of a large practice reads tens of thousands of patients at 200 a minute
TIMEOUT_SECONDS = 6 * 3600


def job_id(connection_id: Any) -> str:
    """The arq job id of a connection's sync: one queued or running at a time."""
    return f"pms.sync:{connection_id}"


async def sync(
    ctx: dict[str, Any],
    organization_id: str,
    connection_id: str,
    full: bool = False,
    run_id: str | None = None,
) -> dict[str, Any]:
    """pms.sync: sync one connection to the end; its run's summary (skipped while another
    run of the connection is live)."""
    try:
        run = await asyncio.to_thread(
            sync_connection,
            ctx["engine"],
            organization_id=uuid.UUID(organization_id),
            connection_id=connection_id,
            full=full,
            run_id=uuid.UUID(run_id) if run_id else None,
        )
    except ServiceError as exc:
        if exc.code in (ErrorCode.SYNC_RUNNING, ErrorCode.NOT_FOUND):
            return {"skipped": exc.code.value, "connection_id": connection_id}
        raise
    return run_summary(run)


async def sync_due(ctx: dict[str, Any]) -> dict[str, Any]:
    """The cron, every minute: queue a sync of each connection that is due (inline without
    Redis). One failing connection never stops the others."""

    def due() -> list[tuple[str, str]]:
        with session_scope(ctx["engine"]) as session:
            return [(str(c.organization_id), str(c.id)) for c in due_connections(session)]

    queued, waiting, failed = 0, 0, 0
    for organization_id, connection_id in await asyncio.to_thread(due):
        try:
            if ctx.get("redis") is not None:
                from jobs.worker import QUEUE_NAME

                job = await ctx["redis"].enqueue_job(
                    "pms.sync",
                    organization_id,
                    connection_id,
                    _job_id=job_id(connection_id),
                    _queue_name=ctx.get("queue_name") or QUEUE_NAME,
                )
                if job is None:  # its sync is queued or running already
                    waiting += 1
                    continue
            else:
                await sync(ctx, organization_id, connection_id)
            queued += 1
        except Exception as exc:
            failed += 1
            log.error(
                "jobs.pms.sync_due_failed", connection_id=connection_id, error=type(exc).__name__
            )
    return {"queued": queued, "already_queued": waiting, "failed": failed}


def cron_jobs() -> list[CronJob]:
    """Every minute, at second 0; ``unique``: one check at a time across workers."""
    return [cron(sync_due, name=CRON_NAME, unique=True, run_at_startup=False)]
