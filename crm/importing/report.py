"""What an import reports where it ran: its warnings and rejects per code, the first lines
of each, and the organization's imports newest first.

Shared by ``crm import``, ``crm imports`` and the GraphQL ``importJobs`` query. Only what
the job recorded is shown: line number, column, code and message (never the row's values:
the line number is how the user finds the row in their own file).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from crm.errors import ErrorCode, ServiceError
from crm.importing.jobs import reported_status
from crm.models import ImportJob, ImportRowError
from crm.models.base import parse_uuid
from crm.pagination import check_first, decode_cursor, encode_cursor

# lines shown per code unless every one is asked for
FIRST_PER_CODE = 5


@dataclass(slots=True)
class CodeReport:
    """One error code of a job: how many rows it rejected, how many it only warned about,
    and its first lines in file order."""

    code: str
    warnings: int = 0
    rejected: int = 0
    first: list[ImportRowError] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.warnings + self.rejected


def error_report(
    session: Session, *, job: ImportJob, per_code: int | None = FIRST_PER_CODE
) -> list[CodeReport]:
    """The job's row errors by code (most frequent first), each with its first ``per_code``
    lines (None: every line)."""
    e = ImportRowError
    reports: dict[str, CodeReport] = {}
    counted = session.execute(
        select(e.code, e.rejected, func.count())
        .where(e.import_job_id == job.id)
        .group_by(e.code, e.rejected)
    )
    for code, rejected, count in counted:
        report = reports.setdefault(code, CodeReport(code))
        if rejected:
            report.rejected += count
        else:
            report.warnings += count
    for code, report in reports.items() if per_code != 0 else ():
        stmt = select(e).where(e.import_job_id == job.id, e.code == code).order_by(e.line, e.id)
        if per_code is not None:
            stmt = stmt.limit(per_code)
        report.first = list(session.exec(stmt).scalars())
    return sorted(reports.values(), key=lambda r: (-r.total, r.code))


def error_json(error: ImportRowError) -> dict[str, Any]:
    return {
        "line": error.line,
        "column": error.column,
        "code": error.code,
        "message": error.message,
        "rejected": error.rejected,
    }


def report_json(reports: list[CodeReport]) -> dict[str, Any]:
    """``error_report`` as plain JSON: code -> counts and first lines."""
    return {
        r.code: {
            "warnings": r.warnings,
            "rejected": r.rejected,
            "lines": [error_json(e) for e in r.first],
        }
        for r in reports
    }


def job_json(job: ImportJob) -> dict[str, Any]:
    """An import job's state, counts and options as plain JSON."""
    return {
        "job_id": str(job.id),
        "status": reported_status(job),
        "dry_run": job.dry_run,
        "source": job.source,
        "filename": job.filename,
        "options": job.options or {},
        "rows": job.rows,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "linked": job.linked,
        "rejected": job.rejected,
        "error": job.error,
        "actor": job.actor,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


@dataclass(slots=True)
class JobPage:
    items: list[ImportJob]
    cursors: list[str]
    has_next: bool
    total: int


def list_import_jobs(
    session: Session, *, organization_id: uuid.UUID, first: int = 20, after: str | None = None
) -> JobPage:
    """The organization's import jobs, newest first (ids are time-ordered UUIDv7)."""
    first = check_first(first)
    j = ImportJob
    stmt = select(j).where(j.organization_id == organization_id)
    cursor = decode_cursor(after)
    if cursor is not None:
        key = parse_uuid(cursor.get("id"))
        if key is None:
            raise ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")
        stmt = stmt.where(j.id < key)
    rows = list(session.exec(stmt.order_by(j.id.desc()).limit(first + 1)).scalars())
    total = session.exec(
        select(func.count()).select_from(j).where(j.organization_id == organization_id)
    ).one()[0]
    items = rows[:first]
    return JobPage(
        items=items,
        cursors=[encode_cursor({"id": str(r.id)}) for r in items],
        has_next=len(rows) > first,
        total=total,
    )
