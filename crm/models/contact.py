"""Contacts, the channel identifiers that key them, and their audit trail."""

from __future__ import annotations

import uuid
from datetime import date, datetime
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

# A chain of merges (merged_into_id followed from contact to contact) longer than this is a
# cycle or corruption, never real data: whoever follows one stops here.
MAX_MERGE_CHAIN = 100

# The contact fields that survivorship computes from source records, in display order.
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
)


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20)
    date_of_birth: date | None = None
    address_line1: str | None = Field(default=None, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=100)
    status: str = Field(default="active", max_length=16)
    contact_type: str = Field(default="person", max_length=16)
    primary_source: str | None = Field(default=None, max_length=64)
    source_systems: list[str] = Field(default_factory=list, sa_column=json_column())
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=json_column("metadata"))
    # field name -> {"source": system, "observed_at": iso} of the value that survived
    field_sources: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id")
    # lower-cased names, email and phone digits: what staff search matches against
    search_text: str = Field(default="", max_length=1000)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        # unique: the target of the (organization_id, contact_id) foreign keys of the tables
        # that hang off a contact, so that a row can only point at a contact of its own org
        sa.Index("ix_contacts_organization_id_id", "organization_id", "id", unique=True),
        sa.Index("ix_contacts_organization_id_updated_at", "organization_id", "updated_at"),
        # tombstones only: looked up by the survivor they point at
        sa.Index(
            "ix_contacts_merged_into_id",
            "merged_into_id",
            postgresql_where=sa.text("merged_into_id IS NOT NULL"),
            sqlite_where=sa.text("merged_into_id IS NOT NULL"),
        ),
        sa.Index(
            "ix_contacts_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            info={"dialects": ["postgresql"]},
        ).ddl_if(dialect="postgresql"),
        sa.CheckConstraint("status IN ('active','merged','erased')", name="status"),
    )


class ContactIdentifier(SQLModel, table=True):
    """One channel identifier held by one contact.

    ``(organization, namespace, value, ordinal)`` is unique: the first holder of a value has
    ordinal 0 and is its primary holder. Exclusive namespaces only ever have ordinal 0, so
    the same constraint settles races for both kinds.
    """

    __tablename__ = "contact_identifiers"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID
    contact_id: uuid.UUID = Field(index=True)
    namespace: str = Field(sa_type=byte_ordered(32))
    value: str = Field(sa_type=byte_ordered(400))
    channel: str = Field(max_length=32)
    ordinal: int = Field(default=0)
    source: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        contact_of_same_organization(),
        sa.UniqueConstraint("organization_id", "namespace", "value", "ordinal"),
        sa.UniqueConstraint("organization_id", "namespace", "value", "contact_id"),
        sa.CheckConstraint("namespace IN ('tel','email') OR ordinal = 0", name="exclusive"),
    )


class ContactEvent(SQLModel, table=True):
    """Append-only audit trail of everything that happened to a contact."""

    __tablename__ = "contact_events"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID
    contact_id: uuid.UUID
    kind: str = Field(max_length=32)
    field: str | None = Field(default=None, max_length=64)
    old_value: Any = Field(default=None, sa_column=json_column(nullable=True))
    new_value: Any = Field(default=None, sa_column=json_column(nullable=True))
    source: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        contact_of_same_organization(),
        sa.Index("ix_contact_events_contact_id_id", "contact_id", "id"),
    )
