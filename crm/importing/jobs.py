"""Import jobs: options, creation, lookup, their row errors, and stored uploads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.identity import IdentityError, normalize_region
from crm.importing.validation import text_encoding, upload_filename
from crm.models import ImportFile, ImportJob, ImportRowError, Organization
from crm.models.base import parse_uuid
from crm.pagination import check_first, cursor_int, decode_cursor, encode_cursor
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
) -> ImportJob:
    """Validate the options and record a pending import job.

    ``allowed_sources``: the names the calling API key may write as; None for the operator's
    ``crm import`` (any source but ``manual``). See :func:`crm.tenancy.sources.file_source`.
    """
    source = file_source(
        options.source,
        allowed=allowed_sources,
        overrides=(organization.settings or {}).get("source_priorities"),
    )
    options.source = source
    options.encoding = text_encoding(options.encoding)
    options.filename = upload_filename(options.filename)
    if options.region:
        try:
            options.region = normalize_region(options.region)
        except IdentityError as exc:
            raise ServiceError(exc.code.value, exc.message, field="region") from exc
    job = ImportJob(
        organization_id=organization.id,
        source=source,
        filename=options.filename,
        dry_run=options.dry_run,
        options=options.as_json(),
        total_bytes=total_bytes,
        actor=actor,
    )
    session.add(job)
    session.flush()
    return job


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
