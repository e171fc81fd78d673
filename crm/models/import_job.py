"""Import jobs with their counts, and every rejected line with its reason."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_column, ts_column, utcnow, uuid7


class ImportJob(SQLModel, table=True):
    __tablename__ = "import_jobs"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    source: str = Field(default="csv", max_length=64)
    filename: str | None = Field(default=None, max_length=500)
    status: str = Field(default="pending", max_length=16)
    dry_run: bool = False
    options: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    total_bytes: int | None = None
    processed_bytes: int = 0
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    linked: int = 0
    rejected: int = 0
    error: str | None = None
    actor: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    started_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    # written as each batch commits: a running job whose heartbeat is older than
    # CRM_IMPORT_HEARTBEAT_LIMIT_SECONDS lost its process (reported ``interrupted``)
    heartbeat_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    # SHA-256 of the file: the same file imported again into the organization resumes the
    # interrupted job rather than starting another
    content_hash: str | None = Field(default=None, max_length=64)

    __table_args__ = (
        sa.CheckConstraint("status IN ('pending','running','succeeded','failed')", name="status"),
        sa.Index("ix_import_jobs_organization_id_content_hash", "organization_id", "content_hash"),
    )


class ImportRowError(SQLModel, table=True):
    __tablename__ = "import_row_errors"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    import_job_id: uuid.UUID = Field(foreign_key="import_jobs.id")
    line: int
    column: str | None = Field(default=None, max_length=200)
    code: str = Field(max_length=64)
    message: str = Field(max_length=1000)
    # True when the whole row was rejected, False when only this value was dropped
    rejected: bool = True
    row: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())

    __table_args__ = (sa.Index("ix_import_row_errors_import_job_id_line", "import_job_id", "line"),)


class ImportFile(SQLModel, table=True):
    """An uploaded file waiting for a background import; deleted once the import finishes."""

    __tablename__ = "import_files"

    import_job_id: uuid.UUID = Field(foreign_key="import_jobs.id", primary_key=True)
    content: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
