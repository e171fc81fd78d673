"""Import a CSV file: stream it through the ingestion pipeline in committed batches.

Each batch commits with the job's counters, so a killed import resumes by running it again:
rows already stored are ``unchanged``, the rest import, and the end state is the same as one
uninterrupted run (``submit.submit_import`` takes an interrupted job back). A dry run plans
every batch and stores none (``dry_run``). The module layout: ``rows`` (normalising, batches),
``importer`` (one batch at a time), ``overlap`` (PostgreSQL's writer thread), ``dry_run``,
``submit`` (inline or background, resuming) and ``runner`` (background without Redis).
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from typing import IO

import structlog
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine

from crm.db import (
    session_scope,
)
from crm.errors import NotFound
from crm.importing.importer import Importer
from crm.importing.jobs import ImportOptions, create_import_job
from crm.importing.preview import RowPreview
from crm.importing.reader import ImportFailed
from crm.importing.rows import GC_THRESHOLDS, fewer_gc_passes, normalise_rows
from crm.ingest import (
    REJECTED,
)
from crm.models import (
    ImportFile,
    ImportJob,
    Organization,
    utcnow,
)
from crm.settings import get_settings
from crm.webhooks.outbound.outbox import emit as emit_webhook

log = structlog.get_logger(__name__)

__all__ = [
    "GC_THRESHOLDS",
    "ImportOptions",
    "create_import_job",
    "fewer_gc_passes",
    "normalise_rows",
    "run_import",
    "run_stored_import",
]


def run_import(
    *,
    engine: Engine,
    job_id: uuid.UUID,
    stream: IO[bytes],
    progress: Callable[[ImportJob], None] | None = None,
    preview: RowPreview | None = None,
) -> ImportJob:
    """Import ``stream`` for the pending job ``job_id``; returns the finished job.
    ``preview``: filled with what became of the first rows."""
    with session_scope(engine) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise NotFound("import job")
        org = session.get(Organization, job.organization_id)
        job.status = "running"
        job.started_at = job.heartbeat_at = utcnow()
        session.add(job)
    opts = job.options or {}
    options = ImportOptions(
        source=job.source,
        dry_run=job.dry_run,
        column_map=opts.get("column_map") or {},
        region=opts.get("region"),
        encoding=opts.get("encoding"),
        filename=job.filename,
        batch_size=get_settings().import_batch_size,
    )
    importer = Importer(engine, job, org, options)
    if preview is not None:
        preview.dry_run = job.dry_run
        importer.preview = preview
    started = time.monotonic()
    try:
        with fewer_gc_passes():
            importer.run(stream, progress)
    except ImportFailed as exc:
        _finish(engine, job, status="failed", error=exc.message)
        raise
    except Exception as exc:
        log.exception("crm.import.failed", job_id=str(job.id))
        _finish(engine, job, status="failed", error=f"internal error: {type(exc).__name__}")
        raise
    usable = importer.rows - importer.counts[REJECTED]
    status = "succeeded" if usable > 0 or importer.rows == 0 else "failed"
    error = None if status == "succeeded" else "nothing usable in the file: every row was rejected"
    if importer.rows == 0:
        status, error = "failed", "the file has a header but no data rows"
    _finish(engine, job, status=status, error=error)
    log.info(
        "crm.import.finished",
        job_id=str(job.id),
        rows=importer.rows,
        seconds=round(time.monotonic() - started, 3),
        **importer.counts,
    )
    return job


def _finish(engine: Engine, job: ImportJob, *, status: str, error: str | None) -> None:
    with session_scope(engine) as session:
        values = {"status": status, "error": error, "finished_at": utcnow()}
        session.execute(update(ImportJob).where(ImportJob.id == job.id).values(**values))
        # outbound webhooks: one event per import (not one per row), in this transaction
        emit_webhook(
            session,
            organization_id=job.organization_id,
            event_type="import.completed",
            items=[{"importJobId": str(job.id), "status": status}],
        )
    job.status, job.error = status, error


def run_stored_import(*, engine: Engine, job_id: uuid.UUID) -> ImportJob:
    """Import the file stored for a background job; safe to run again after a crash."""
    with session_scope(engine) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise NotFound("import job")
        if job.status in ("succeeded", "failed"):
            return job
        stored = session.get(ImportFile, job_id)
        if stored is None:
            raise NotFound("import file")
        content = stored.content
    job = run_import(engine=engine, job_id=job_id, stream=io.BytesIO(content))
    with session_scope(engine) as session:
        session.execute(delete(ImportFile).where(ImportFile.import_job_id == job_id))
    return job
