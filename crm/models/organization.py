"""Organizations (tenants) and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_column, ts_column, utcnow, uuid7


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    default_region: str = Field(default="AU", max_length=2)
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    name: str | None = Field(default=None, max_length=200)
    role: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    # when a request last authenticated with it, to the minute (KEY_USE_GRANULARITY)
    last_used_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    # the source names the key may write observations as (docs/ingestion.md, "Source
    # authority"); never ``manual``, which only createContact/updateContact write as
    sources: list[str] = Field(default_factory=lambda: ["api"], sa_column=json_column())

    __table_args__ = (sa.CheckConstraint("role IN ('reader','editor','admin')", name="role"),)
