"""API keys carry the source names they may write as

``resolveContact(input: {source})`` and ``importContacts(input: {source})`` used to record
whatever name the caller sent, so any editor key could write as a PMS (or as ``manual``) and
win survivorship over what the PMS said. ``api_keys.sources`` lists the names a key may write
observations as. Keys made before this migration get ``["api"]``, the default of a new key:
an integration that wrote as its channel or a PMS needs a key created for it
(``crm key create --source NAME``).

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-05 03:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sources", json_type, nullable=True))
    op.execute("""UPDATE api_keys SET sources = '["api"]'""")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("sources", existing_type=json_type, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("sources")
