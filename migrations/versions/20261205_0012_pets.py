"""pets and their versions

An animal per owner contact (``pets``), keyed by its source's pet id or by its owner and name,
its microchip an exclusive identifier per organization; ``pet_versions`` keeps what each source
said, in order (docs/pets.md).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 06:00:57.003311
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import crm.models.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("species", sa.String(length=50), nullable=True),
        sa.Column("breed", sa.String(length=100), nullable=True),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("desexed", sa.Boolean(), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("colour", sa.String(length=50), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("microchip", crm.models.base.byte_ordered(15), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_system", crm.models.base.byte_ordered(64), nullable=True),
        sa.Column("source_pet_id", crm.models.base.byte_ordered(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sex IN ('male','female','unknown')", name=op.f("ck_pets_sex")),
        sa.CheckConstraint("status IN ('active','deceased')", name=op.f("ck_pets_status")),
        sa.ForeignKeyConstraint(
            ["organization_id", "contact_id"],
            ["contacts.organization_id", "contacts.id"],
            name=op.f("fk_pets_organization_id_contacts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pets")),
        sa.UniqueConstraint(
            "organization_id", "microchip", name=op.f("uq_pets_organization_id_microchip")
        ),
        sa.UniqueConstraint(
            "organization_id",
            "source_system",
            "source_pet_id",
            name=op.f("uq_pets_organization_id_source_system_source_pet_id"),
        ),
    )
    with op.batch_alter_table("pets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pets_contact_id"), ["contact_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":  # pg_trgm: migration 0001
        op.create_index(
            "ix_pets_name_key_trgm",
            "pets",
            ["name_key"],
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
        )

    op.create_table(
        "pet_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("pet_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=64), nullable=False),
        sa.Column("source_pet_id", sa.String(length=200), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "normalized",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("import_job_id", sa.Uuid(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("observed_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_job_id"],
            ["import_jobs.id"],
            name=op.f("fk_pet_versions_import_job_id_import_jobs"),
        ),
        sa.ForeignKeyConstraint(["pet_id"], ["pets.id"], name=op.f("fk_pet_versions_pet_id_pets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pet_versions")),
        sa.UniqueConstraint("pet_id", "version", name=op.f("uq_pet_versions_pet_id_version")),
    )


def downgrade() -> None:
    op.drop_table("pet_versions")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_pets_name_key_trgm", table_name="pets")
    with op.batch_alter_table("pets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pets_contact_id"))

    op.drop_table("pets")
