"""PMS practitioners and appointment types per connection

``pms_practitioners`` (mapped to a clinician reference; telehealth and sync flags) and
``pms_appointment_types`` (telehealth and sync flags). Appointments of a practitioner or type
whose sync is off are skipped by the sync.

Revision ID: 0018
Revises: 0019
Create Date: 2026-12-05 07:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.models.base

revision: str = "0018"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _table(name: str, *extra: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("pms_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        *extra,
        sa.Column("telehealth", sa.Boolean(), nullable=False),
        sa.Column("sync_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["pms_connections.id"],
            name=op.f(f"fk_{name}_connection_id_pms_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{name}_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint(
            "connection_id", "pms_id", name=op.f(f"uq_{name}_connection_id_pms_id")
        ),
    )


def upgrade() -> None:
    _table(
        "pms_practitioners",
        sa.Column("clinician_ref", sa.String(length=200), nullable=True),
    )
    _table("pms_appointment_types")


def downgrade() -> None:
    op.drop_table("pms_appointment_types")
    op.drop_table("pms_practitioners")
