"""Staff at work on a referral: messages, seats, consents that lapse, people by name.

- referral_messages: the thread between school and provider on a referral (the text and
  attachment link sealed like other personal data, erased by the retention purge).
- referral_events.version: the referral's version after each move, so a timeline and a
  webhook receiver can order events; actor_subject/actor_name on events and audit
  entries: the person (OpenID Connect subject and name) behind a move or a read.
- referrals.waitlisted / seat_held: the referral came in while the program was full;
  the referral holds one of the program's seats (enrolled), to give back when it ends.
- consents.lapsed_at: when the worker handled the consent's expiry.
- reason consent_expired; role privacy_officer.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = (
    "no_capacity",
    "not_eligible",
    "not_a_fit",
    "could_not_contact",
    "family_declined",
    "no_longer_interested",
    "moved_away",
    "stopped_attending",
    "no_longer_needed",
    "entered_in_error",
    "consent_revoked",
    "no_response",
    "other",
)
ROLES = ("admin", "provider", "school", "analyst", "partner_app")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _recheck(table: str, name: str, column: str, values: Sequence[str]) -> None:
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_{name}")
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_{name} CHECK ({_in(column, values)})"
    )


def _people(table: str, comments: bool = False) -> None:
    subject = "The person: OpenID Connect issuer and subject" if comments else None
    name = "The person's name" if comments else None
    op.add_column(table, sa.Column("actor_subject", sa.String(255), nullable=True, comment=subject))
    op.add_column(table, sa.Column("actor_name", sa.String(200), nullable=True, comment=name))


def upgrade() -> None:
    reasons = (*REASONS, "consent_expired")
    _recheck("referrals", "reason", "status_reason", reasons)
    _recheck("referral_events", "reason", "reason", reasons)
    _recheck("api_keys", "role", "role", (*ROLES, "privacy_officer"))

    # Events are append-only; the backfill of the new column is the one change allowed.
    op.add_column("referral_events", sa.Column("version", sa.Integer, nullable=True))
    op.execute("ALTER TABLE referral_events DISABLE TRIGGER referral_events_append_only")
    op.execute(
        "UPDATE referral_events e SET version = n.v FROM (SELECT id, row_number() OVER "
        "(PARTITION BY referral_id ORDER BY id) AS v FROM referral_events) n WHERE n.id = e.id"
    )
    op.execute("ALTER TABLE referral_events ENABLE TRIGGER referral_events_append_only")
    op.alter_column(
        "referral_events",
        "version",
        nullable=False,
        comment="The referral's version after it",
    )
    _people("referral_events")
    _people("audit_log", comments=True)

    op.add_column(
        "referrals",
        sa.Column("waitlisted", sa.Boolean, nullable=False, server_default="false"),
    )
    op.add_column(
        "referrals",
        sa.Column(
            "seat_held",
            sa.Boolean,
            nullable=False,
            server_default="false",
            comment="Enrolled into one of the program's counted seats",
        ),
    )
    op.add_column(
        "consents",
        sa.Column(
            "lapsed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the worker handled this consent's expiry",
        ),
    )

    op.create_table(
        "referral_messages",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "referral_id",
            sa.Uuid,
            sa.ForeignKey("referrals.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "side",
            sa.String(40),
            sa.CheckConstraint(_in("side", ("school", "provider")), name="side"),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.String(40),
            sa.CheckConstraint(
                _in("kind", ("message", "information_request", "information_response")),
                name="kind",
            ),
            nullable=False,
        ),
        sa.Column(
            "in_reply_to",
            sa.Uuid,
            sa.ForeignKey("referral_messages.id", ondelete="RESTRICT"),
            nullable=True,
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("referral_version", sa.Integer, nullable=False),
        sa.Column("pii", sa.LargeBinary, nullable=True, comment="AES-GCM: text and attachment"),
        sa.Column("pii_key_id", sa.String(32), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor_organization_id", sa.Uuid, nullable=True),
        sa.Column("actor_key_id", sa.Uuid, nullable=True),
        sa.Column("actor_subject", sa.String(255), nullable=True),
        sa.Column("actor_name", sa.String(200), nullable=True),
        sa.CheckConstraint("(pii IS NULL) = (pii_key_id IS NULL)", name="pii_has_key"),
        sa.CheckConstraint(
            "(kind = 'information_response') = (in_reply_to IS NOT NULL)", name="reply_answers"
        ),
    )
    op.create_index(
        "ix_referral_messages_referral_posted", "referral_messages", ["referral_id", "posted_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_referral_messages_referral_posted", table_name="referral_messages")
    op.drop_table("referral_messages")
    op.drop_column("consents", "lapsed_at")
    op.drop_column("referrals", "seat_held")
    op.drop_column("referrals", "waitlisted")
    for table in ("audit_log", "referral_events"):
        op.drop_column(table, "actor_name")
        op.drop_column(table, "actor_subject")
    op.drop_column("referral_events", "version")
    _recheck("api_keys", "role", "role", ROLES)
    _recheck("referral_events", "reason", "reason", REASONS)
    _recheck("referrals", "reason", "status_reason", REASONS)
