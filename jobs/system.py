"""Jobs about the service itself."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import text

from crm.logging import get_logger
from jobs.context import job_session

log = get_logger(__name__)


def _ping_database(ctx: dict[str, Any]) -> str:
    with job_session(ctx) as session:
        session.execute(text("SELECT 1")).scalar_one()
        return session.get_bind().dialect.name


async def health(ctx: dict[str, Any]) -> dict[str, Any]:
    """Check that the database (and Redis, on a worker) answers; say how long it took."""
    started = time.perf_counter()
    dialect = await asyncio.to_thread(_ping_database, ctx)
    result: dict[str, Any] = {
        "ok": True,
        "database": dialect,
        "database_ms": round((time.perf_counter() - started) * 1000, 2),
        "redis": None,
    }
    redis = ctx.get("redis")
    if redis is not None:
        await redis.ping()
        result["redis"] = "ok"
    log.info("jobs.system.health", **result)
    return result
