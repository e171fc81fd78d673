"""Imports that run in the background."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from crm.importing.submit import run_submitted


async def import_contacts(ctx: dict[str, Any], job_id: str) -> dict[str, Any]:
    """contacts.import: import a stored upload; running it again resumes it (idempotent)."""
    job = await asyncio.to_thread(run_submitted, ctx["engine"], uuid.UUID(job_id))
    return {"job_id": str(job.id), "status": job.status, "rows": job.rows}
