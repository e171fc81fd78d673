"""Unlinked identifiers: what a person said a contact's source records no longer prove."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import byte_ordered, contact_of_same_organization, ts_column, utcnow, uuid7


class IdentifierRetraction(SQLModel, table=True):
    """``unlinkIdentifier`` as a recorded observation: this version of a source record no
    longer gives its contact the identifier ``(namespace, value)``.

    Keyed by the record version (a row of ``source_records``, which is never changed or
    deleted), so it follows the record through merges and unmerges. A new version of the
    record that still carries the value gets a row of its own (carried forward by the
    pipeline, same contact and actor); one whose source changed the value is new data.
    ``contact_id`` is the contact it was unlinked from. Rows are never changed;
    ``(source_record_id, namespace, value)`` is unique, which settles two unlinks of the same
    value at once.
    """

    __tablename__ = "identifier_retractions"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID
    contact_id: uuid.UUID
    source_record_id: uuid.UUID = Field(foreign_key="source_records.id")
    namespace: str = Field(sa_type=byte_ordered(32))
    value: str = Field(sa_type=byte_ordered(400))
    actor: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        contact_of_same_organization(),
        sa.UniqueConstraint("source_record_id", "namespace", "value"),
    )
