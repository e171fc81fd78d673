"""Merges the PMS made, and one connection of each PMS per organization

``merges.reason`` admits ``pms``: a patient the PMS merged into another merges its contact
here, recorded as the PMS's decision (undoable like any merge). ``pms_connections`` gets a
unique index on (organization_id, type): a PMS's patient ids are the organization's exclusive
identifiers (``CLINIKO:<id>``...), and two accounts of one PMS may use the same ids.

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _reason(allowed: str) -> None:
    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_merges_reason"), type_="check")
        batch_op.create_check_constraint(op.f("ck_merges_reason"), f"reason IN ({allowed})")


def upgrade() -> None:
    _reason("'manual','sweep','pms'")
    with op.batch_alter_table("pms_connections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pms_connections_organization_id_type", ["organization_id", "type"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("pms_connections", schema=None) as batch_op:
        batch_op.drop_index("ix_pms_connections_organization_id_type")
    op.execute("UPDATE merges SET reason = 'manual' WHERE reason = 'pms'")
    _reason("'manual','sweep'")
