"""source records say whether their id is the source's own

``SourceRecord.externalId`` used to be ``source_id`` unless it started with ``h:`` (an id
derived from the content, for rows without one) or ``edit:`` (a manual edit): a source's own
id that happened to start that way was hidden. ``source_id_given`` is set by the pipeline
from whether the source gave an id. Rows stored before this migration are classified by that
old prefix rule, the only information they carry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("source_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_id_given", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE source_records SET source_id_given = "
        "NOT (source_id LIKE 'h:%' OR source_id LIKE 'edit:%')"
    )
    with op.batch_alter_table("source_records", schema=None) as batch_op:
        batch_op.alter_column("source_id_given", existing_type=sa.Boolean(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("source_records", schema=None) as batch_op:
        batch_op.drop_column("source_id_given")
