"""The arq worker: every job by its dotted name, the cron schedule, the Redis connection.

Run it with ``crm worker`` (or ``arq jobs.worker.WorkerSettings``). Jobs may run more than
once (retries, redeliveries): each must be idempotent. A job is a thin async function in
``jobs/`` that opens a session from its ``ctx`` and calls a service in ``crm/``.
"""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.worker import Function, func

from crm.settings import get_settings
from jobs import dedup, imports, pms, system, webhooks
from jobs.context import shutdown, startup

QUEUE_NAME = "crm:queue"

# Dotted name -> job function. ``jobs.queue.enqueue`` runs these same functions inline when
# there is no Redis, so a name added here works in both modes.
JOBS: dict[str, Any] = {
    "system.health": system.health,
    "contacts.import": imports.import_contacts,
    "dedup.sweep": dedup.sweep,
    "pms.sync": pms.sync,
    "webhooks.process": webhooks.process,
    "webhooks.retry": webhooks.retry,
    "webhooks.deliver": webhooks.deliver,
}

# Jobs that outlast the worker's default ``job_timeout``: a first sweep of a large
# organization runs for many minutes
JOB_TIMEOUTS: dict[str, int] = {
    "dedup.sweep": dedup.TIMEOUT_SECONDS,
    "pms.sync": pms.TIMEOUT_SECONDS,
}
# Jobs whose result is not kept: their ``_job_id`` is free again as soon as they end (a
# connection's next sync must not wait for its last result to expire)
JOB_KEEP_RESULT: dict[str, int] = {"pms.sync": 0}

# Scheduled jobs, for example:
#   cron(pms.sync_due, name="pms.sync", minute=None, unique=True)          # every minute
#   cron(dedup.sweep_all, name="dedup.sweep_all", weekday="sun", hour=3, minute=0, unique=True)
CRON_JOBS: list[CronJob] = [*dedup.cron_jobs(), *pms.cron_jobs(), *webhooks.cron_jobs()]


def redis_settings_for(url: str | None) -> RedisSettings:
    """arq's connection settings for a ``redis://`` URL (arq's defaults without one)."""
    return RedisSettings.from_dsn(url) if url else RedisSettings()


def job_functions() -> list[Function]:
    """``JOBS`` as arq functions registered under their dotted names."""
    return [
        func(
            function,
            name=name,
            timeout=JOB_TIMEOUTS.get(name),
            keep_result=JOB_KEEP_RESULT.get(name),
        )
        for name, function in JOBS.items()
    ]


class WorkerSettings:
    """Read by arq's ``run_worker`` (``crm worker``) and by the tests."""

    functions = job_functions()
    cron_jobs = CRON_JOBS
    on_startup = startup
    on_shutdown = shutdown
    queue_name = QUEUE_NAME
    redis_settings = redis_settings_for(get_settings().redis_url)
    max_tries = 5
    job_timeout = 300
    keep_result = 3600
