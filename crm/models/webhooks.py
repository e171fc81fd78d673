"""Inbound webhooks (endpoints and the delivery inbox) and the commerce and messaging activity
they bring: orders, subscriptions, prescriptions, messages (metadata only, never text)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import contact_of_same_organization, json_column, ts_column, utcnow, uuid7

WEBHOOK_PROVIDERS = ("CAREPORTALS", "CHATWOOT", "WHATSAPP")
DELIVERY_STATUSES = ("received", "processed", "failed", "rejected", "ignored")


class WebhookEndpoint(SQLModel, table=True):
    """Where one provider delivers for one organization; its secret is encrypted at rest."""

    __tablename__ = "webhook_endpoints"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    provider: str = Field(max_length=16)
    display_name: str | None = Field(default=None, max_length=200)
    # Fernet token of the shared secret (crm.webhooks.secrets)
    secret_encrypted: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    # deliveries refused for a bad or missing signature (nothing else of them is kept)
    rejected_signatures: int = 0
    last_rejected_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    disabled_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))

    __table_args__ = (
        sa.CheckConstraint("provider IN ('CAREPORTALS','CHATWOOT','WHATSAPP')", name="provider"),
    )


class WebhookDelivery(SQLModel, table=True):
    """One delivery as received (raw body), stored before it is acknowledged."""

    __tablename__ = "webhook_deliveries"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoints.id")
    provider: str = Field(max_length=16)
    event_type: str | None = Field(default=None, max_length=100)
    # the provider's delivery/event id, else "h:" + the body's SHA-256: one effect per event
    event_id: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    body: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    content_hash: str = Field(max_length=64)
    status: str = Field(default="received", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    next_attempt_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    processed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))

    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id"),
        sa.CheckConstraint(
            "status IN ('received','processed','failed','rejected','ignored')", name="status"
        ),
        sa.Index("ix_webhook_deliveries_organization_id_status", "organization_id", "status"),
    )


class Order(SQLModel, table=True):
    """An e-commerce order (CarePortals) of a contact, with its status history."""

    __tablename__ = "orders"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    contact_id: uuid.UUID | None = Field(default=None)
    source: str = Field(max_length=64)
    external_id: str = Field(max_length=200)
    status: str | None = Field(default=None, max_length=32)
    # when the current status was reached (the newest status event, by the provider's time)
    status_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    # [{"status", "at", "event_id"}] oldest first, by the provider's time
    status_history: list[Any] = Field(default_factory=list, sa_column=json_column())
    total_amount: Decimal | None = Field(
        default=None, sa_column=sa.Column(sa.Numeric(12, 2), nullable=True)
    )
    currency: str | None = Field(default=None, max_length=8)
    coupon: str | None = Field(default=None, max_length=100)
    line_items: list[Any] = Field(default_factory=list, sa_column=json_column())
    ordered_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "source", "external_id"),
        contact_of_same_organization(),
        sa.Index("ix_orders_organization_id_contact_id", "organization_id", "contact_id"),
    )


class Subscription(SQLModel, table=True):
    """A recurring order (CarePortals) of a contact: active, paused or cancelled."""

    __tablename__ = "subscriptions"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    contact_id: uuid.UUID | None = Field(default=None)
    source: str = Field(max_length=64)
    external_id: str = Field(max_length=200)
    status: str = Field(default="active", max_length=16)
    status_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    paused_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    cancelled_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "source", "external_id"),
        contact_of_same_organization(),
        sa.Index("ix_subscriptions_organization_id_contact_id", "organization_id", "contact_id"),
    )


class Prescription(SQLModel, table=True):
    """A prescription issued for a contact (CarePortals)."""

    __tablename__ = "prescriptions"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    contact_id: uuid.UUID | None = Field(default=None)
    source: str = Field(max_length=64)
    external_id: str = Field(max_length=200)
    drug_name: str | None = Field(default=None, max_length=200)
    prescribed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "source", "external_id"),
        contact_of_same_organization(),
        sa.Index("ix_prescriptions_organization_id_contact_id", "organization_id", "contact_id"),
    )


class Message(SQLModel, table=True):
    """A message's metadata (channel, direction, time, conversation): never its text."""

    __tablename__ = "messages"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    contact_id: uuid.UUID | None = Field(default=None)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=200)
    conversation_id: str | None = Field(default=None, max_length=200)
    direction: str = Field(max_length=8)
    sent_at: datetime = Field(sa_column=ts_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "channel", "external_id"),
        sa.CheckConstraint("direction IN ('inbound','outbound')", name="direction"),
        contact_of_same_organization(),
        sa.Index("ix_messages_organization_id_contact_id", "organization_id", "contact_id"),
    )
