"""import files

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:42:18.820739
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "import_files",
        sa.Column("import_job_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_job_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_files_import_job_id_import_jobs"),
        ),
        sa.PrimaryKeyConstraint("import_job_id", name=op.f("pk_import_files")),
    )


def downgrade() -> None:

    op.drop_table("import_files")
