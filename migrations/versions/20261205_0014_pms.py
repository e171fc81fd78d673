"""PMS connections, their sync runs and the appointments they bring (issue 13)

Revision ID: 0014
Revises: 0015
Create Date: 2026-12-05 06:01:30.165338
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import crm.models.base

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pms_connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("tenant_id", sa.String(length=200), nullable=True),
        sa.Column("practice_id", sa.String(length=200), nullable=True),
        sa.Column("pms_organization_id", sa.String(length=200), nullable=True),
        sa.Column("credentials_encrypted", sa.Text(), nullable=False),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("token_expires_at", crm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sync_enabled", sa.Boolean(), nullable=False),
        sa.Column("sync_frequency_minutes", sa.Integer(), nullable=False),
        sa.Column("last_sync_at", crm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sync_status", sa.String(length=16), nullable=True),
        sa.Column("last_sync_error", sa.String(length=1000), nullable=True),
        sa.Column(
            "cursors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", crm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('CLINIKO','HALAXY','MEDIRECORDS','GENTU')",
            name=op.f("ck_pms_connections_type"),
        ),
        sa.CheckConstraint(
            "sync_frequency_minutes >= 1", name=op.f("ck_pms_connections_frequency")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_pms_connections_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pms_connections")),
    )
    with op.batch_alter_table("pms_connections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pms_connections_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "pms_appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("pms_id", sa.String(length=128), nullable=False),
        sa.Column("patient_pms_id", sa.String(length=128), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("practitioner_pms_id", sa.String(length=128), nullable=True),
        sa.Column("practitioner_name", sa.String(length=200), nullable=True),
        sa.Column("appointment_type_pms_id", sa.String(length=128), nullable=True),
        sa.Column("appointment_type_name", sa.String(length=200), nullable=True),
        sa.Column("starts_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", crm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("telehealth", sa.Boolean(), nullable=False),
        sa.Column("pms_updated_at", crm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("synced_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["pms_connections.id"],
            name=op.f("fk_pms_appointments_connection_id_pms_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_pms_appointments_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_pms_appointments_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pms_appointments")),
        sa.UniqueConstraint(
            "connection_id", "pms_id", name=op.f("uq_pms_appointments_connection_id_pms_id")
        ),
    )
    with op.batch_alter_table("pms_appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pms_appointments_connection_id_patient_pms_id",
            ["connection_id", "patient_pms_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_pms_appointments_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_pms_appointments_organization_id_starts_at",
            ["organization_id", "starts_at"],
            unique=False,
        )

    op.create_table(
        "pms_sync_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", crm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("patients_fetched", sa.Integer(), nullable=False),
        sa.Column("patients_created", sa.Integer(), nullable=False),
        sa.Column("patients_updated", sa.Integer(), nullable=False),
        sa.Column("patients_unchanged", sa.Integer(), nullable=False),
        sa.Column("patients_linked", sa.Integer(), nullable=False),
        sa.Column("patients_skipped", sa.Integer(), nullable=False),
        sa.Column("patients_failed", sa.Integer(), nullable=False),
        sa.Column("patients_merged", sa.Integer(), nullable=False),
        sa.Column("appointments_fetched", sa.Integer(), nullable=False),
        sa.Column("appointments_created", sa.Integer(), nullable=False),
        sa.Column("appointments_updated", sa.Integer(), nullable=False),
        sa.Column("appointments_unchanged", sa.Integer(), nullable=False),
        sa.Column("appointments_skipped", sa.Integer(), nullable=False),
        sa.Column("appointments_failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('full','incremental')", name=op.f("ck_pms_sync_runs_kind")),
        sa.CheckConstraint(
            "status IN ('running','success','partial','failed')",
            name=op.f("ck_pms_sync_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["pms_connections.id"],
            name=op.f("fk_pms_sync_runs_connection_id_pms_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_pms_sync_runs_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pms_sync_runs")),
    )
    with op.batch_alter_table("pms_sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pms_sync_runs_connection_id_started_at",
            ["connection_id", "started_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_pms_sync_runs_connection_id_running",
            ["connection_id"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("pms_sync_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_pms_sync_runs_connection_id_running",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index("ix_pms_sync_runs_connection_id_started_at")

    op.drop_table("pms_sync_runs")
    with op.batch_alter_table("pms_appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_pms_appointments_organization_id_starts_at")
        batch_op.drop_index(batch_op.f("ix_pms_appointments_contact_id"))
        batch_op.drop_index("ix_pms_appointments_connection_id_patient_pms_id")

    op.drop_table("pms_appointments")
    with op.batch_alter_table("pms_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pms_connections_organization_id"))

    op.drop_table("pms_connections")
