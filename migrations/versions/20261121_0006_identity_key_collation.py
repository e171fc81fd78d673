"""identity keys compared byte by byte; only merged contacts in the merged_into index

contact_identifiers (namespace, value) and source_records (source_system, source_id) are
machine-made keys (E.164 numbers, lower-cased emails, handles, record ids) that are only
ever looked up by equality. Under the database's default collation every comparison in
their unique indexes went through the locale (strcoll on copied strings); in the "C"
collation it is a memcmp. Equality is the same (both collations are deterministic), so no
lookup or constraint changes meaning; an import's identifier and source-record writes cost
the server about a third less (bench/README.md, import). PostgreSQL only: SQLite compares
bytes already.

ix_contacts_merged_into_id only ever serves ``merged_into_id = ...`` (tombstones pointing at
a survivor, and the key check when a contact is deleted): it now holds merged contacts only,
instead of one NULL entry per active contact written with every new contact.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, length)
KEYS = (
    ("contact_identifiers", "namespace", 32),
    ("contact_identifiers", "value", 400),
    ("source_records", "source_system", 64),
    ("source_records", "source_id", 200),
)
MERGED = sa.text("merged_into_id IS NOT NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column, length in KEYS:
            op.alter_column(
                table,
                column,
                type_=sa.String(length, collation="C"),
                existing_type=sa.String(length),
                existing_nullable=False,
            )
    op.drop_index("ix_contacts_merged_into_id", table_name="contacts")
    op.create_index(
        "ix_contacts_merged_into_id",
        "contacts",
        ["merged_into_id"],
        postgresql_where=MERGED,
        sqlite_where=MERGED,
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_merged_into_id", table_name="contacts")
    op.create_index("ix_contacts_merged_into_id", "contacts", ["merged_into_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table, column, length in KEYS:
            op.alter_column(
                table,
                column,
                type_=sa.String(length),
                existing_type=sa.String(length, collation="C"),
                existing_nullable=False,
            )
