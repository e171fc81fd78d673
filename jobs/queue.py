"""Enqueue a job by its dotted name: on Redis when CRM_REDIS_URL is set, else inline."""

from __future__ import annotations

import uuid
from typing import Any

from arq.connections import create_pool

from crm.logging import get_logger
from crm.models import utcnow
from crm.settings import get_settings
from jobs.context import base_context
from jobs.worker import JOBS, QUEUE_NAME, redis_settings_for

log = get_logger(__name__)


async def enqueue(
    name: str,
    *args: Any,
    _job_id: str | None = None,
    _queue_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Queue job ``name`` and return its id; without Redis, run it now and return its result.

    With Redis, a ``_job_id`` already queued, running or holding a result is not queued again
    (its id is returned). Inline runs have no such guard: they happen in the caller's process.
    """
    function = JOBS.get(name)
    if function is None:
        raise ValueError(f"unknown job {name!r} (known: {', '.join(sorted(JOBS))})")
    url = get_settings().redis_url
    if not url:
        return await _run_inline(name, function, args, kwargs, job_id=_job_id)
    pool = await create_pool(redis_settings_for(url), default_queue_name=QUEUE_NAME)
    try:
        job = await pool.enqueue_job(
            name, *args, _job_id=_job_id, _queue_name=_queue_name or QUEUE_NAME, **kwargs
        )
    finally:
        await pool.aclose()
    log.info("jobs.enqueued", job=name, job_id=job.job_id if job else _job_id, queued=bool(job))
    return job.job_id if job is not None else _job_id


async def _run_inline(
    name: str, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, job_id: str | None
) -> Any:
    ctx = {
        **base_context(),
        "job_id": job_id or uuid.uuid4().hex,
        "job_try": 1,
        "enqueue_time": utcnow(),
        "score": None,
        "redis": None,
        "inline": True,
    }
    log.info("jobs.inline.started", job=name, job_id=ctx["job_id"])
    return await function(ctx, *args, **kwargs)
