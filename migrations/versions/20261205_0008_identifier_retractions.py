"""identifier retractions: unlinkIdentifier recorded against the source records it retracts

``unlinkIdentifier`` used to delete the identifier and nothing else: the contact kept showing
the value (its records still carried it), a lookup with the same payload found the contact
again through its record, and the next observation re-linked it. An unlink now also writes
one row per current source record version that carried the value: survivorship leaves the
value out of that version, and the version no longer identifies the contact by it. Source
records stay immutable; a new version (new data) is not retracted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identifier_retractions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("source_record_id", sa.Uuid(), nullable=False),
        sa.Column("namespace", crm.models.base.byte_ordered(32), nullable=False),
        sa.Column("value", crm.models.base.byte_ordered(400), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("created_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id", "contact_id"],
            ["contacts.organization_id", "contacts.id"],
            name=op.f("fk_identifier_retractions_organization_id_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["source_record_id"],
            ["source_records.id"],
            name=op.f("fk_identifier_retractions_source_record_id_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identifier_retractions")),
        sa.UniqueConstraint(
            "source_record_id",
            "namespace",
            "value",
            name=op.f("uq_identifier_retractions_source_record_id_namespace_value"),
        ),
    )


def downgrade() -> None:
    op.drop_table("identifier_retractions")
