"""Outbound webhooks: subscriptions (a URL, the events it wants, its signing secret), the
outbox each event is written to in the transaction of the change, and the delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_column, ts_column, utcnow, uuid7

OUTBOUND_EVENTS = (
    "contact.created",
    "contact.updated",
    "contact.merged",
    "contact.unmerged",
    "contact.erased",
    "import.completed",
    "pms.sync.failed",
)
OUTBOX_STATUSES = ("pending", "delivered", "failed")


class WebhookSubscription(SQLModel, table=True):
    """Where an organization wants its events sent, and the secret they are signed with."""

    __tablename__ = "webhook_subscriptions"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    url: str = Field(max_length=2000)
    events: list[Any] = Field(default_factory=list, sa_column=json_column())
    # Fernet-encrypted "whsec_<base64>" (the PMS keyring)
    secret_encrypted: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    description: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    deleted_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    # while set, no event is queued for it and pending ones are dropped (enable to resume)
    disabled_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class WebhookOutbox(SQLModel, table=True):
    """One event for one subscription: delivered at least once, the same id on every try."""

    __tablename__ = "webhook_outbox"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscriptions.id")
    event_type: str = Field(max_length=32)
    # the JSON body sent, byte for byte on every attempt (it is what is signed)
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    delivered_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))

    __table_args__ = (
        sa.CheckConstraint("status IN ('pending','delivered','failed')", name="status"),
        sa.Index("ix_webhook_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        sa.Index("ix_webhook_outbox_subscription_id", "subscription_id"),
    )


class WebhookAttempt(SQLModel, table=True):
    """The delivery log: one row per attempt (never the body)."""

    __tablename__ = "webhook_attempts"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    outbox_id: uuid.UUID = Field(foreign_key="webhook_outbox.id", index=True)
    attempted_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=1000)
    duration_ms: int | None = None
