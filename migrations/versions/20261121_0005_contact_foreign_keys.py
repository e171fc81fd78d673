"""one (organization_id, contact_id) foreign key per child row of a contact

contact_identifiers, source_records and contact_events each had a foreign key to
organizations and one to contacts: two checks per inserted row. One composite key to
contacts (organization_id, id) replaces both: the contact exists, it belongs to the row's
organization (which the contact's own key guarantees exists), and the bulk import pays one
check per row instead of two. contacts (organization_id, id) becomes unique for it (it is
unique anyway: id is the primary key).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 08:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHILDREN = ("contact_identifiers", "source_records", "contact_events")


def upgrade() -> None:
    # an index, not a constraint: SQLite creates it in place, without rebuilding contacts
    op.drop_index("ix_contacts_organization_id_id", table_name="contacts")
    op.create_index(
        "ix_contacts_organization_id_id", "contacts", ["organization_id", "id"], unique=True
    )
    for table in CHILDREN:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_contact_id_contacts", type_="foreignkey")
            batch_op.drop_constraint(
                f"fk_{table}_organization_id_organizations", type_="foreignkey"
            )
            batch_op.create_foreign_key(
                f"fk_{table}_organization_id_contacts",
                "contacts",
                ["organization_id", "contact_id"],
                ["organization_id", "id"],
            )


def downgrade() -> None:
    for table in CHILDREN:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_organization_id_contacts", type_="foreignkey")
            batch_op.create_foreign_key(
                f"fk_{table}_organization_id_organizations",
                "organizations",
                ["organization_id"],
                ["id"],
            )
            batch_op.create_foreign_key(
                f"fk_{table}_contact_id_contacts", "contacts", ["contact_id"], ["id"]
            )
    op.drop_index("ix_contacts_organization_id_id", table_name="contacts")
    op.create_index(
        "ix_contacts_organization_id_id", "contacts", ["organization_id", "id"], unique=False
    )
