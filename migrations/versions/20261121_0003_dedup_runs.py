"""dedup runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 06:54:01.570141
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dedup_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("pairs_scored", sa.Integer(), nullable=False),
        sa.Column("auto_merged", sa.Integer(), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("started_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", crm.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("mode IN ('full','incremental')", name=op.f("ck_dedup_runs_mode")),
        sa.CheckConstraint(
            "status IN ('running','succeeded','failed')", name=op.f("ck_dedup_runs_status")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_dedup_runs_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dedup_runs")),
    )
    with op.batch_alter_table("dedup_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dedup_runs_organization_id_started_at",
            ["organization_id", "started_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_dedup_runs_organization_id_running",
            ["organization_id"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("dedup_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_dedup_runs_organization_id_running",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index("ix_dedup_runs_organization_id_started_at")

    op.drop_table("dedup_runs")
