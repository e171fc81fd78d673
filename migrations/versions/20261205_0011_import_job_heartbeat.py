"""import jobs carry a heartbeat and their file's hash

``heartbeat_at`` is written as each batch of an import commits: a ``running`` job whose
heartbeat is older than the limit lost its process and is reported ``interrupted``.
``content_hash`` (SHA-256 of the file) lets the same file imported again into the same
organization resume that job.

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-05 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.models.base

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("heartbeat_at", crm.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_import_jobs_organization_id_content_hash",
            ["organization_id", "content_hash"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_import_jobs_organization_id_content_hash")
        batch_op.drop_column("content_hash")
        batch_op.drop_column("heartbeat_at")
