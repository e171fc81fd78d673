"""dedup runs keep the organization's learned matching model

``model`` (JSON, nullable): the Fellegi-Sunter parameters the sweep learned from the
organization's contacts (per field and level: m, u, weight; the share of duplicates; the
thresholds it used). The thresholds themselves stay in ``organizations.settings["dedup"]``.

Revision ID: 0013
Revises: 0017
Create Date: 2026-12-05 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dedup_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "model",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("dedup_runs", schema=None) as batch_op:
        batch_op.drop_column("model")
