"""Inbound webhooks: process a stored delivery; retry the failed ones whose backoff passed.
Outbound webhooks: deliver the outbox."""

from __future__ import annotations

import asyncio
from typing import Any

from arq.cron import CronJob, cron

from crm.webhooks.outbound.delivery import drain
from crm.webhooks.processing import process_job, retry_due


async def process(ctx: dict[str, Any], delivery_id: str) -> str | None:
    """webhooks.process: process a delivery, with a batch of the others waiting (idempotent:
    a processed one is left alone; one another job holds is not taken twice)."""
    return await asyncio.to_thread(process_job, ctx["engine"], delivery_id)


async def retry(ctx: dict[str, Any]) -> dict[str, int]:
    """webhooks.retry: process every failed delivery whose backoff has passed."""
    return await asyncio.to_thread(retry_due, ctx["engine"])


async def deliver(ctx: dict[str, Any]) -> dict[str, int]:
    """webhooks.deliver: send the outbound webhooks that are due (idempotent: a delivered
    event is never claimed again; a claimed one waits out its lease)."""
    return await asyncio.to_thread(drain, ctx["engine"])


def cron_jobs() -> list[CronJob]:
    """Every minute: retry what is due; every 15 seconds: send outbound webhooks."""
    return [
        cron(retry, name="webhooks.retry", minute=None, unique=True),
        cron(deliver, name="webhooks.deliver", second={0, 15, 30, 45}, unique=True),
    ]
