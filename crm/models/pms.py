"""PMS connections, their sync runs, and the appointments they bring."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_column, ts_column, utcnow, uuid7

PMS_TYPES = ("CLINIKO", "HALAXY", "MEDIRECORDS", "GENTU")
RUN_STATUSES = ("running", "success", "partial", "failed")


class PmsConnection(SQLModel, table=True):
    """One organization's link to one PMS account; credentials encrypted (crm.pms.secrets)."""

    __tablename__ = "pms_connections"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    type: str = Field(max_length=16)
    display_name: str = Field(max_length=200)
    base_url: str | None = Field(default=None, max_length=500)
    # the PMS's own ids of the account (Halaxy organization, MediRecords practice...)
    tenant_id: str | None = Field(default=None, max_length=200)
    practice_id: str | None = Field(default=None, max_length=200)
    pms_organization_id: str | None = Field(default=None, max_length=200)
    # Fernet token of the credentials' JSON: never returned, logged or put in an error
    credentials_encrypted: str = Field(sa_type=sa.Text())
    # an access token obtained with the credentials (OAuth), encrypted too, and its expiry
    access_token_encrypted: str | None = Field(default=None, sa_type=sa.Text())
    token_expires_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    sync_enabled: bool = True
    sync_frequency_minutes: int = 15
    last_sync_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    last_sync_status: str | None = Field(default=None, max_length=16)
    last_sync_error: str | None = Field(default=None, max_length=1000)
    # per stream: how far the sync has come (``{"patients": "2026-12-01T00:00:00Z", ...}``)
    cursors: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    # consecutive failed runs; the scheduler waits 1, 2, 4... 60 minutes after each
    failure_count: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        sa.CheckConstraint("type IN ('CLINIKO','HALAXY','MEDIRECORDS','GENTU')", name="type"),
        sa.CheckConstraint("sync_frequency_minutes >= 1", name="frequency"),
        # one account of each PMS per organization: PMS patient ids are the organization's
        # exclusive identifiers (CLINIKO:<id>...), and two accounts' ids may collide
        sa.Index("ix_pms_connections_organization_id_type", "organization_id", "type", unique=True),
    )


class PmsSyncRun(SQLModel, table=True):
    """One sync of one connection: what it fetched and did, and how it ended."""

    __tablename__ = "pms_sync_runs"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    connection_id: uuid.UUID = Field(foreign_key="pms_connections.id")
    kind: str = Field(max_length=16)
    status: str = Field(default="running", max_length=16)
    started_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    heartbeat_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    completed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    patients_fetched: int = 0
    patients_created: int = 0
    patients_updated: int = 0
    patients_unchanged: int = 0
    patients_linked: int = 0
    patients_skipped: int = 0
    patients_failed: int = 0
    patients_merged: int = 0
    appointments_fetched: int = 0
    appointments_created: int = 0
    appointments_updated: int = 0
    appointments_unchanged: int = 0
    appointments_skipped: int = 0
    appointments_failed: int = 0
    error: str | None = Field(default=None, max_length=1000)
    # the records that failed (PMS id, code, message: never personal data), at most 100
    details: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())

    __table_args__ = (
        sa.CheckConstraint("kind IN ('full','incremental')", name="kind"),
        sa.CheckConstraint("status IN ('running','success','partial','failed')", name="status"),
        sa.Index("ix_pms_sync_runs_connection_id_started_at", "connection_id", "started_at"),
        sa.Index(
            "uq_pms_sync_runs_connection_id_running",
            "connection_id",
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        ),
    )


class PmsAppointment(SQLModel, table=True):
    """An appointment as the PMS last described it; ``contact_id`` once its patient is known."""

    __tablename__ = "pms_appointments"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    connection_id: uuid.UUID = Field(foreign_key="pms_connections.id")
    pms_id: str = Field(max_length=128)
    patient_pms_id: str | None = Field(default=None, max_length=128)
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id", index=True)
    practitioner_pms_id: str | None = Field(default=None, max_length=128)
    practitioner_name: str | None = Field(default=None, max_length=200)
    appointment_type_pms_id: str | None = Field(default=None, max_length=128)
    appointment_type_name: str | None = Field(default=None, max_length=200)
    starts_at: datetime = Field(sa_column=ts_column())
    ends_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    # booked | arrived | cancelled | did_not_arrive | deleted
    status: str = Field(max_length=16)
    telehealth: bool = False
    pms_updated_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    content_hash: str = Field(max_length=64)
    synced_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        sa.UniqueConstraint("connection_id", "pms_id"),
        sa.Index("ix_pms_appointments_organization_id_starts_at", "organization_id", "starts_at"),
        sa.Index(
            "ix_pms_appointments_connection_id_patient_pms_id", "connection_id", "patient_pms_id"
        ),
    )


class PmsPractitioner(SQLModel, table=True):
    """A practitioner of a connection's PMS, mapped to a clinician of ours by reference."""

    __tablename__ = "pms_practitioners"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    connection_id: uuid.UUID = Field(foreign_key="pms_connections.id")
    pms_id: str = Field(max_length=128)
    name: str = Field(max_length=200)
    # the clinician this practitioner is (a reference of the organization's choosing)
    clinician_ref: str | None = Field(default=None, max_length=200)
    telehealth: bool = False
    # false: this practitioner's appointments are skipped (counted in the run's skipped)
    sync_enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.UniqueConstraint("connection_id", "pms_id"),)


class PmsAppointmentType(SQLModel, table=True):
    """An appointment type of a connection's PMS, with the flags the practice sets."""

    __tablename__ = "pms_appointment_types"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    connection_id: uuid.UUID = Field(foreign_key="pms_connections.id")
    pms_id: str = Field(max_length=128)
    name: str = Field(max_length=200)
    telehealth: bool = False
    # false: appointments of this type are skipped (counted in the run's skipped)
    sync_enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.UniqueConstraint("connection_id", "pms_id"),)
