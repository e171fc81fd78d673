"""Import jobs: options, creation, lookup, their row errors, and stored uploads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlmodel import Session

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.identity import IdentityError, normalize_region
from crm.importing.validation import text_encoding, upload_filename
from crm.models import ImportFile, ImportJob, ImportRowError, Organization, utcnow
from crm.models.base import parse_uuid
from crm.pagination import check_first, cursor_int, decode_cursor, encode_cursor
from crm.settings import get_settings
from crm.tenancy.sources import file_source

BATCH_SIZE = 2000
# ImportRowError.line is a 32-bit integer column
MAX_LINE = 2**31 - 1


@dataclass(slots=True)
class ImportOptions:
    source: str = "csv"
    dry_run: bool = False
    column_map: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    encoding: str | None = None
    filename: str | None = None
    batch_size: int = BATCH_SIZE

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "column_map": self.column_map,
            "region": self.region,
            "encoding": self.encoding,
        }


def create_import_job(
    session: Session,
    *,
    organization: Organization,
    options: ImportOptions,
    total_bytes: int | None,
    actor: str | None,
    allowed_sources: Sequence[str] | None = None,
    content_hash: str | None = None,
) -> ImportJob:
    """Validate the options and record a pending import job.

    ``allowed_sources``: the names the calling API key may write as; None for the operator's
    ``crm import`` (any source but ``manual``). See :func:`crm.tenancy.sources.file_source`.
    """
    validate_options(options, organization=organization, allowed_sources=allowed_sources)
    return record_import_job(
        session,
        organization=organization,
        options=options,
        total_bytes=total_bytes,
        actor=actor,
        content_hash=content_hash,
    )


def record_import_job(
    session: Session,
    *,
    organization: Organization,
    options: ImportOptions,
    total_bytes: int | None,
    actor: str | None,
    content_hash: str | None = None,
) -> ImportJob:
    """Record a pending import job with options ``validate_options`` has checked."""
    job = ImportJob(
        organization_id=organization.id,
        source=options.source,
        filename=options.filename,
        dry_run=options.dry_run,
        options=options.as_json(),
        total_bytes=total_bytes,
        actor=actor,
        content_hash=content_hash,
    )
    session.add(job)
    session.flush()
    return job


# a running job whose process died: reported so, never stored (``reported_status``)
INTERRUPTED = "interrupted"


def _heartbeat_cutoff() -> datetime:
    return utcnow() - timedelta(seconds=get_settings().import_heartbeat_limit_seconds)


def reported_status(job: ImportJob) -> str:
    """The job's status as users see it: ``interrupted`` for a job stored as running whose
    heartbeat (written as each batch commits) is older than the limit, its process gone."""
    if job.status == "running":
        beat = job.heartbeat_at or job.started_at
        if beat is None or beat < _heartbeat_cutoff():
            return INTERRUPTED
    return job.status


def claim_interrupted(
    session: Session, *, organization: Organization, options: ImportOptions, content_hash: str
) -> ImportJob | None:
    """The organization's interrupted import of the same file with the same options, taken
    back to be run again (its counters and row errors cleared: the run counts every row
    again, those it stored before as ``unchanged``); None when there is none.

    Two runs of the same file claiming it at once: a conditional update decides, the other
    starts a job of its own.
    """
    j = ImportJob
    candidates = session.exec(
        select(j)
        .where(
            j.organization_id == organization.id,
            j.content_hash == content_hash,
            j.status == "running",
            j.dry_run.is_(False),
        )
        .order_by(j.created_at.desc())
    ).scalars()
    wanted = options.as_json()
    for job in candidates:
        if reported_status(job) != INTERRUPTED or (job.options or {}) != wanted:
            continue
        stale = or_(j.heartbeat_at.is_(None), j.heartbeat_at < _heartbeat_cutoff())
        claimed = session.execute(
            update(j)
            .where(j.id == job.id, j.status == "running", stale)
            .values(
                status="pending",
                heartbeat_at=utcnow(),
                rows=0,
                processed_bytes=0,
                created=0,
                updated=0,
                unchanged=0,
                linked=0,
                rejected=0,
                error=None,
                finished_at=None,
            )
        )
        if claimed.rowcount != 1:
            continue
        session.execute(delete(ImportRowError).where(ImportRowError.import_job_id == job.id))
        session.refresh(job)
        return job
    return None


def validate_options(
    options: ImportOptions,
    *,
    organization: Organization,
    allowed_sources: Sequence[str] | None = None,
) -> None:
    """Check the options, normalising the source name, encoding, filename and region in place.

    ``allowed_sources``: the names the calling API key may write as (None: the operator's
    ``crm import``, any source but ``manual``).
    """
    options.source = file_source(
        options.source,
        allowed=allowed_sources,
        overrides=(organization.settings or {}).get("source_priorities"),
    )
    options.encoding = text_encoding(options.encoding)
    options.filename = upload_filename(options.filename)
    if options.region:
        try:
            options.region = normalize_region(options.region)
        except IdentityError as exc:
            raise ServiceError(exc.code.value, exc.message, field="region") from exc


def get_import_job(session: Session, *, organization_id: uuid.UUID, job_id: Any) -> ImportJob:
    """The organization's import job, or NotFound."""
    try:
        key = uuid.UUID(str(job_id))
    except ValueError:
        raise NotFound("import job", field="id") from None
    job = session.get(ImportJob, key)
    if job is None or job.organization_id != organization_id:
        raise NotFound("import job", field="id")
    return job


def store_import_file(session: Session, *, job: ImportJob, content: bytes) -> None:
    """Keep an upload for the background worker (deleted when its import finishes)."""
    session.add(ImportFile(import_job_id=job.id, content=content))
    session.flush()


@dataclass(slots=True)
class ErrorPage:
    items: list[ImportRowError]
    cursors: list[str]
    has_next: bool
    total: int


def list_import_errors(
    session: Session, *, job: ImportJob, first: int = 100, after: str | None = None
) -> ErrorPage:
    """The job's row errors in file order (line, then column)."""
    first = check_first(first, maximum=1000)
    cursor = decode_cursor(after)
    e = ImportRowError
    stmt = select(e).where(e.import_job_id == job.id)
    if cursor is not None:
        line, key = cursor_int(cursor, "line", maximum=MAX_LINE), parse_uuid(cursor.get("id"))
        if key is None:
            raise ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")
        stmt = stmt.where((e.line > line) | ((e.line == line) & (e.id > key)))
    rows = list(session.exec(stmt.order_by(e.line, e.id).limit(first + 1)).scalars())
    total = session.exec(
        select(func.count()).select_from(e).where(e.import_job_id == job.id)
    ).one()[0]
    items = rows[:first]
    return ErrorPage(
        items=items,
        cursors=[encode_cursor({"line": r.line, "id": str(r.id)}) for r in items],
        has_next=len(rows) > first,
        total=total,
    )
