"""webhook_endpoints.secret sealed with the PII keyring (secret_sealed, secret_key_id).

A database dump alone no longer lets anyone sign a forged delivery. Existing secrets are
sealed here with the keyring the settings describe.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 15:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.migrations.frozen import keyring, secret_context

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column(
        "webhook_endpoints",
        sa.Column(
            "secret_sealed",
            sa.LargeBinary(),
            nullable=True,
            comment="AES-GCM (PII keyring): the whsec_ secret that signs messages",
        ),
    )
    op.add_column(
        "webhook_endpoints",
        sa.Column(
            "secret_key_id",
            sa.String(length=32),
            nullable=True,
            comment="Key that sealed the secret",
        ),
    )
    ring = keyring()
    updates = []
    for row in bind.execute(sa.text("SELECT id, secret FROM webhook_endpoints")).mappings():
        key_id, sealed = ring.seal(row["secret"].encode(), secret_context(row["id"]))
        updates.append({"id": row["id"], "sealed": sealed, "key": key_id})
    if updates:
        bind.execute(
            sa.text(
                "UPDATE webhook_endpoints SET secret_sealed = :sealed, secret_key_id = :key "
                "WHERE id = :id"
            ),
            updates,
        )
    op.alter_column("webhook_endpoints", "secret_sealed", nullable=False)
    op.alter_column("webhook_endpoints", "secret_key_id", nullable=False)
    op.drop_column("webhook_endpoints", "secret")


def downgrade() -> None:
    bind = op.get_bind()
    op.add_column(
        "webhook_endpoints",
        sa.Column(
            "secret",
            sa.String(length=100),
            nullable=True,
            comment="whsec_<base64>: signs messages",
        ),
    )
    ring = keyring()
    updates = []
    rows = bind.execute(
        sa.text("SELECT id, secret_sealed, secret_key_id FROM webhook_endpoints")
    ).mappings()
    for row in rows:
        secret = ring.open(row["secret_key_id"], row["secret_sealed"], secret_context(row["id"]))
        updates.append({"id": row["id"], "secret": secret.decode()})
    if updates:
        bind.execute(
            sa.text("UPDATE webhook_endpoints SET secret = :secret WHERE id = :id"), updates
        )
    op.alter_column("webhook_endpoints", "secret", nullable=False)
    op.drop_column("webhook_endpoints", "secret_key_id")
    op.drop_column("webhook_endpoints", "secret_sealed")
