"""source record payload hash

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 07:37:11.989513
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("source_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("source_records", schema=None) as batch_op:
        batch_op.drop_column("payload_hash")
