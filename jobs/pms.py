"""PMS sync as jobs: one connection (``pms.sync``) and the every-minute check of who is due.

``pms.sync`` carries the job id ``pms.sync:<connection id>``, so a connection has one sync
queued or running at a time; its result is not kept, so the id is free again once it ends.
A failing connection is not due again for 1, 2, 4... 60 minutes (``crm.pms.sync``).

A worker killed mid-sync (``kill -9``, a lost machine) leaves its job marked in progress in
Redis for as long as a sync may run (hours), which would hold the job id, and so the
connection, that long. The run's heartbeat says sooner that it died: when the check finds a
due connection whose running run is stale and whose job id is taken, that job is dead; it is
cleared and queued again, and the new run resumes from the committed cursors. A worker
killed after taking the job but before committing its run leaves no heartbeat: a job marked
in progress for longer than the heartbeat limit while the connection has no live run is
dead too (``orphaned_job``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.cron import CronJob, cron
from arq.jobs import Job

from crm.db import session_scope
from crm.errors import ErrorCode, ServiceError
from crm.logging import get_logger
from crm.pms.schedule import due_connections, run_summary, stale_connections
from crm.pms.sync import sync_connection
from crm.settings import Settings, get_settings

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

    def due() -> list[tuple[str, str, bool]]:
        with session_scope(ctx["engine"]) as session:
            connections = due_connections(session)
            stale = stale_connections(session, [c.id for c in connections])
            return [(str(c.organization_id), str(c.id), c.id in stale) for c in connections]

    queued, waiting, failed, revived = 0, 0, 0, 0
    for organization_id, connection_id, stale in await asyncio.to_thread(due):
        try:
            if ctx.get("redis") is not None:
                from jobs.worker import QUEUE_NAME

                queue = ctx.get("queue_name") or QUEUE_NAME
                job = await _enqueue(ctx["redis"], queue, organization_id, connection_id)
                if job is None and (
                    stale or await orphaned_job(ctx["redis"], queue, job_id(connection_id))
                ):
                    # its run's process died and left the job id taken: free it, queue again
                    await clear_dead_job(ctx["redis"], queue, job_id(connection_id))
                    log.warning("jobs.pms.dead_job_cleared", connection_id=connection_id)
                    job = await _enqueue(ctx["redis"], queue, organization_id, connection_id)
                    revived += job is not None
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
    return {"queued": queued, "already_queued": waiting, "failed": failed, "revived": revived}


async def _enqueue(redis: Any, queue: str, organization_id: str, connection_id: str) -> Any:
    return await redis.enqueue_job(
        "pms.sync",
        organization_id,
        connection_id,
        _job_id=job_id(connection_id),
        _queue_name=queue,
    )


async def orphaned_job(
    redis: Any, queue: str, job: str, *, settings: Settings | None = None
) -> bool:
    """A due connection (so no live run) whose job a worker took and has held for longer than
    the heartbeat limit without a run: the worker died between taking the job and committing
    its run (a live one commits the run first thing), and arq would keep the id taken until
    the job's timeout. A job still waiting in the queue is not orphaned (workers are busy)."""
    if not await redis.exists(in_progress_key_prefix + job):
        return False
    info = await Job(job, redis, _queue_name=queue).info()
    if info is None:
        return False
    limit = (settings or get_settings()).pms_sync_heartbeat_limit_seconds
    return (datetime.now(UTC) - info.enqueue_time).total_seconds() > limit


async def clear_dead_job(redis: Any, queue: str, job: str) -> None:
    """Forget the arq job ``job`` (queued or marked in progress by a worker that died), so its
    id can be queued again."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(job_key_prefix + job, in_progress_key_prefix + job, retry_key_prefix + job)
        pipe.zrem(queue, job)
        await pipe.execute()


def cron_jobs() -> list[CronJob]:
    """Every minute, at second 0; ``unique``: one check at a time across workers."""
    return [cron(sync_due, name=CRON_NAME, unique=True, run_at_startup=False)]
