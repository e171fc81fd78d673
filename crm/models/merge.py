"""Merges (with what is needed to undo them) and the duplicate review queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_column, ts_column, utcnow, uuid7


class Merge(SQLModel, table=True):
    __tablename__ = "merges"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    survivor_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    merged_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    # manual (a person), sweep (the dedup sweep) or pms (the PMS merged the two patients)
    reason: str = Field(max_length=16)
    score: float | None = None
    candidate_id: uuid.UUID | None = Field(default=None, foreign_key="duplicate_candidates.id")
    # snapshot of the merged contact, its identifiers and source records, and the survivor's
    # identifiers it gave up, so unmerge can restore it exactly
    undo: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    actor: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    undone_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))

    __table_args__ = (sa.CheckConstraint("reason IN ('manual','sweep','pms')", name="reason"),)


class DuplicateCandidate(SQLModel, table=True):
    """A pair of contacts that may be one person; ``contact_a_id`` < ``contact_b_id``."""

    __tablename__ = "duplicate_candidates"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    contact_a_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    contact_b_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    score: float
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=json_column())
    status: str = Field(default="pending", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    decided_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    decided_by: str | None = Field(default=None, max_length=200)

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "contact_a_id", "contact_b_id"),
        sa.Index("ix_duplicate_candidates_organization_id_status", "organization_id", "status"),
        sa.CheckConstraint("status IN ('pending','merged','dismissed')", name="status"),
        sa.CheckConstraint("contact_a_id < contact_b_id", name="ordered_pair"),
    )
