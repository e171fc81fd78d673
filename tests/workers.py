"""A real arq worker for tests: burst mode (runs what is queued, then stops) on the test's
own queue, against the test Redis."""

from __future__ import annotations

from typing import Any

from arq.worker import Worker, create_worker

from jobs.worker import WorkerSettings, redis_settings_for


def burst_worker(redis_url: str, queue_name: str, **options: Any) -> Worker:
    """``WorkerSettings`` in burst mode; ``options`` override. No crons unless given: a
    registered cron (webhook delivery, the PMS check) falling due while the test runs would
    count as a job."""
    options.setdefault("cron_jobs", [])
    options.setdefault("poll_delay", 0)
    return create_worker(
        WorkerSettings,
        redis_settings=redis_settings_for(redis_url),
        queue_name=queue_name,
        burst=True,
        handle_signals=False,
        **options,
    )


async def drain(redis_url: str, queue_name: str, **options: Any) -> int:
    """Run a burst worker until its queue is empty; how many jobs it completed."""
    worker = burst_worker(redis_url, queue_name, **options)
    try:
        await worker.main()
        return worker.jobs_complete
    finally:
        await worker.close()
