"""Dedup sweep runs: the per-organization lock, the incremental sweep's watermark, the record."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_column, ts_column, utcnow, uuid7

_RUNNING = sa.text("status = 'running'")


class DedupRun(SQLModel, table=True):
    """One sweep of one organization.

    At most one run per organization is ``running`` (a partial unique index, on SQLite and
    PostgreSQL alike): a second sweep started meanwhile fails to insert its row and does
    nothing. The last ``succeeded`` run's ``started_at`` is where an incremental sweep starts.
    """

    __tablename__ = "dedup_runs"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    mode: str = Field(max_length=16)
    status: str = Field(default="running", max_length=16)
    actor: str | None = Field(default=None, max_length=200)
    contacts: int = Field(default=0)
    pairs_scored: int = Field(default=0)
    auto_merged: int = Field(default=0)
    candidates: int = Field(default=0)
    errors: int = Field(default=0)
    error: str | None = Field(default=None, max_length=500)
    # the organization's model as the run learned it: per field and level m, u and weight
    # (``crm.matching.training.DedupModel.as_json``), and the thresholds it used
    model: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    started_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    heartbeat_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    finished_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))

    __table_args__ = (
        sa.Index(
            "uq_dedup_runs_organization_id_running",
            "organization_id",
            unique=True,
            sqlite_where=_RUNNING,
            postgresql_where=_RUNNING,
        ),
        sa.Index("ix_dedup_runs_organization_id_started_at", "organization_id", "started_at"),
        sa.CheckConstraint("status IN ('running','succeeded','failed')", name="status"),
        sa.CheckConstraint("mode IN ('full','incremental')", name="mode"),
    )
