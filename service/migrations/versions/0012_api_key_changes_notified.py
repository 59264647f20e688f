"""Tell every API process when an API key changes, so each may keep the keys it has
looked up (service/auth/key_cache.py).

After a change to a key row commits (revoked, its role or organization changed, deleted,
a cascade from its organization's deletion, TRUNCATE), PostgreSQL notifies the channel
`youthlink_api_keys` with the key's prefix ('*' for TRUNCATE: every key). Writing a key's
`last_used_at`, which the API does at most once a minute per key, notifies nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('youthlink_api_keys', '*');
            ELSE
                PERFORM pg_notify('youthlink_api_keys', OLD.prefix);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER api_key_updated AFTER UPDATE ON api_keys FOR EACH ROW
        WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
        EXECUTE FUNCTION api_key_changed()
        """
    )
    op.execute(
        "CREATE TRIGGER api_key_deleted AFTER DELETE ON api_keys FOR EACH ROW "
        "EXECUTE FUNCTION api_key_changed()"
    )
    op.execute(
        "CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys FOR EACH STATEMENT "
        "EXECUTE FUNCTION api_key_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER api_keys_truncated ON api_keys")
    op.execute("DROP TRIGGER api_key_deleted ON api_keys")
    op.execute("DROP TRIGGER api_key_updated ON api_keys")
    op.execute("DROP FUNCTION api_key_changed()")
