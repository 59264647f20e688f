"""Search follows one change log; the PostgreSQL full-text index is retired.

search_outbox (rows deleted once applied, one consumer) becomes search_changes, an
ordered log that every index follows from its own cursor (a PostgreSQL snapshot), and
that is trimmed by age. The catalog triggers now append to it. The PostgreSQL search
tables, lexicon and text search configurations go: the embedded tantivy index and
Meilisearch are the engines. Existing indexes rebuild from the catalog: the log starts
with a rebuild request.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = sa.text("(pg_current_xact_id())::text::bigint")

# Every change to what a program's search document holds is logged, in the same
# transaction as the change and whatever code path made it (API, seeds, COPY).
LOG = """
CREATE OR REPLACE FUNCTION search_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'programs' THEN
        INSERT INTO search_changes (program_id)
        VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
    ELSIF TG_TABLE_NAME = 'organizations' THEN
        INSERT INTO search_changes (program_id)
        SELECT id FROM programs WHERE organization_id = NEW.id;
    ELSIF TG_TABLE_NAME = 'locations' THEN
        INSERT INTO search_changes (program_id)
        SELECT program_id FROM program_locations WHERE location_id = NEW.id;
    ELSIF TG_TABLE_NAME = 'taxonomy_terms' THEN
        INSERT INTO search_changes (program_id)
        WITH RECURSIVE subtree(id) AS (
            SELECT NEW.id
            UNION
            SELECT t.id FROM taxonomy_terms t JOIN subtree s ON t.parent_id = s.id
        )
        SELECT DISTINCT pt.program_id FROM program_taxonomy_terms pt
          JOIN subtree s ON s.id = pt.taxonomy_term_id;
    ELSE
        IF TG_OP <> 'INSERT' THEN
            INSERT INTO search_changes (program_id) VALUES (OLD.program_id);
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.program_id <> OLD.program_id) THEN
            INSERT INTO search_changes (program_id) VALUES (NEW.program_id);
        END IF;
    END IF;
    RETURN NULL;
END $$
"""
CONFIGURATIONS = ("yl_en", "yl_es", "yl_simple")


def upgrade() -> None:
    op.create_table(
        "search_changes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "program_id",
            sa.Uuid(),
            nullable=True,
            comment="NULL: every program (a rebuild after a bulk load)",
        ),
        sa.Column("tx", sa.BigInteger(), server_default=WRITER, nullable=False),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_changes")),
    )
    op.create_index(op.f("ix_search_changes_tx"), "search_changes", ["tx"])
    op.create_index(op.f("ix_search_changes_changed_at"), "search_changes", ["changed_at"])
    op.create_table(
        "search_cursors",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False, comment="pg_snapshot the index reflects"),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_search_cursors")),
    )
    op.create_table(
        "search_log_horizon",
        sa.Column("one", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("trimmed_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("trimmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("one", name=op.f("ck_search_log_horizon_one_row")),
        sa.PrimaryKeyConstraint("one", name=op.f("pk_search_log_horizon")),
    )
    op.execute("INSERT INTO search_log_horizon (one) VALUES (true)")
    op.execute("INSERT INTO search_changes (program_id) VALUES (NULL)")  # rebuild everything
    op.execute(LOG)
    op.drop_table("search_outbox")
    op.drop_table("search_sites")
    op.drop_table("search_texts")
    op.drop_table("search_documents")
    op.drop_table("search_lexicon")
    for name in CONFIGURATIONS:
        op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {name}")


def downgrade() -> None:
    """Not reversible: the PostgreSQL search index it drops is derived data the previous
    release rebuilds with `reindex`, but its tables and lexicon are not re-created here.
    Restore a backup taken before the upgrade to go back."""
    raise NotImplementedError("0008 cannot be downgraded; restore the pre-upgrade backup")
