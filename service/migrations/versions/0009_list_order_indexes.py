"""Lists read a page in index order: programs and organizations by (name, id).

A list of 20 used to sort every visible row to find its first 20 (all ~95,000 active
programs at pilot scale); with these indexes PostgreSQL walks the order and stops.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_programs_name_id", "programs", ["name", "id"])
    op.create_index("ix_organizations_name_id", "organizations", ["name", "id"])


def downgrade() -> None:
    op.drop_index("ix_organizations_name_id", table_name="organizations")
    op.drop_index("ix_programs_name_id", table_name="programs")
