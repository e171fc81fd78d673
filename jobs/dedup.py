"""The dedup sweep as jobs: one organization (``dedup.sweep``) and the weekly cron of all."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from arq.cron import CronJob, cron
from arq.typing import WEEKDAYS
from sqlalchemy import select

from crm.db import session_scope
from crm.logging import get_logger
from crm.matching.sweep import FULL, run_sweep
from crm.models import Organization
from crm.settings import Settings, get_settings

log = get_logger(__name__)

CRON_NAME = "dedup.sweep_all"
# a sweep of a million contacts takes minutes: the worker's default 300 s is too short
TIMEOUT_SECONDS = 3 * 3600


def job_id(organization_id: Any) -> str:
    """The arq job id of an organization's sweep: one queued or running at a time."""
    return f"dedup.sweep:{organization_id}"


async def sweep(ctx: dict[str, Any], organization_id: str, mode: str = FULL) -> dict[str, Any]:
    """dedup.sweep: sweep one organization; a no-op while another sweep of it runs."""
    workers = get_settings().dedup_workers
    summary = await asyncio.to_thread(
        run_sweep,
        ctx["engine"],
        organization_id=uuid.UUID(organization_id),
        mode=mode,
        actor="job:dedup.sweep",
        workers=workers,
    )
    return summary.as_dict()


async def sweep_all(ctx: dict[str, Any]) -> dict[str, Any]:
    """The weekly cron: a full sweep of every organization, one after another.

    A failing organization is logged and counted and the others still run.
    """

    def organization_ids() -> list[uuid.UUID]:
        with session_scope(ctx["engine"]) as session:
            return list(
                session.execute(select(Organization.id).order_by(Organization.id)).scalars()
            )

    done, skipped, failed = 0, 0, 0
    for organization_id in await asyncio.to_thread(organization_ids):
        try:
            summary = await sweep(ctx, str(organization_id))
        except Exception as exc:
            failed += 1
            log.error(
                "jobs.dedup.organization_failed",
                organization_id=str(organization_id),
                error=type(exc).__name__,
            )
            continue
        if summary["skipped"]:
            skipped += 1
        else:
            done += 1
    return {"swept": done, "skipped": skipped, "failed": failed}


def cron_jobs(settings: Settings | None = None) -> list[CronJob]:
    """The weekly sweep at ``CRM_DEDUP_CRON_WEEKDAY`` / ``_HOUR`` / ``_MINUTE`` (none when
    ``CRM_DEDUP_CRON_ENABLED`` is false)."""
    settings = settings or get_settings()
    if not settings.dedup_cron_enabled:
        return []
    day = settings.dedup_cron_weekday
    weekday = int(day) if day.isdigit() else WEEKDAYS.index(day)  # 0 is Monday
    return [
        cron(
            sweep_all,
            name=CRON_NAME,
            weekday=weekday,
            hour=settings.dedup_cron_hour,
            minute=settings.dedup_cron_minute,
            unique=True,
            timeout=TIMEOUT_SECONDS,
        )
    ]
