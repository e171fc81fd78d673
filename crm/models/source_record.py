"""Source history: every observation from every source, immutable and versioned."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import (
    byte_ordered,
    contact_of_same_organization,
    json_column,
    ts_column,
    utcnow,
    uuid7,
)


class SourceRecord(SQLModel, table=True):
    """One version of what ``source_system`` said about ``source_id``.

    Identical content is never stored twice; changed content is a new version and the old one
    stops being current. ``contact_id`` is the contact the record is attached to now.
    """

    __tablename__ = "source_records"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID
    contact_id: uuid.UUID = Field(index=True)
    source_system: str = Field(sa_type=byte_ordered(64))
    source_id: str = Field(sa_type=byte_ordered(200))
    # whether ``source_id`` is the source's own id; false when the source gave none and the id
    # was derived from the content (``h:...``) or made for a manual edit (``edit:...``)
    source_id_given: bool
    version: int = Field(default=1)
    is_current: bool = Field(default=True)
    # sha256 of the normalised observation: equal means nothing new (``unchanged``)
    content_hash: str = Field(max_length=64)
    # sha256 of the record as received (and the region reading it): lets a bulk re-import skip
    # rows it has seen without normalising them again
    payload_hash: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    normalized: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    observed_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    import_job_id: uuid.UUID | None = Field(default=None, foreign_key="import_jobs.id")

    __table_args__ = (
        contact_of_same_organization(),
        sa.UniqueConstraint("organization_id", "source_system", "source_id", "version"),
    )
