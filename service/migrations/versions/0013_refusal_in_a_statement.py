"""A statement that writes several things at once can refuse all of them.

`youthlink_refuse(code)` raises SQLSTATE YL409 with `code` as its message. A statement
calls it (in a CASE, so only when it must) when what its data-modifying WITHs did
cannot stand together: a new referral written but its Idempotency-Key taken meanwhile by
a request with another body (service/referrals/writes.py). The whole statement then
writes nothing, as if it had never run.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION youthlink_refuse(code text) RETURNS boolean LANGUAGE plpgsql
        VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = 'YL409', MESSAGE = code;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION youthlink_refuse(text)")
