"""Student and consent PII sealed with AES-GCM; idempotent replays sealed too.

students: first_name, last_name, date_of_birth, guardian_name, guardian_phone and
guardian_email move into `pii` (sealed JSON) with `pii_key_id`; `identity_hash` (keyed
HMAC of school, name and birth date) finds duplicates; `pii_purged_at` marks a purge.
consents: signer_name moves into `pii`. Existing rows are sealed here with the keyring
the settings describe (YOUTHLINK_PII_KEYS), so set the production keys before upgrading.

idempotency_keys: responses are stored sealed and requests are remembered by a keyed hash.
The stored replays (24 hours' worth) are dropped, since their plain hashes cannot be
re-keyed without the requests: upgrade when no client is retrying a create.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 15:40:00
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from service.migrations.frozen import identity_material, keyring, open_record, seal_record

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# referral_events stay append-only, except that the retention purge may erase a note.
REFUSE_CHANGE_BUT_PURGE = """
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'referral_events' AND NEW.note IS NULL
       AND (to_jsonb(NEW) - 'note') = (to_jsonb(OLD) - 'note') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% rows are never changed or deleted', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
"""
REFUSE_CHANGE = """
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed or deleted', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
"""

STUDENT_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "guardian_name",
    "guardian_phone",
    "guardian_email",
)


def _seal_students(bind: sa.Connection) -> None:
    ring = keyring()
    rows = bind.execute(
        sa.text(f"SELECT id, school_id, {', '.join(STUDENT_FIELDS)} FROM students")  # noqa: S608
    ).mappings()
    updates = []
    for row in rows:
        values = {f: row[f] for f in STUDENT_FIELDS}
        values["date_of_birth"] = row["date_of_birth"].isoformat()
        key_id, sealed = seal_record(ring, "students", row["id"], values)
        identity = identity_material(
            row["school_id"], row["first_name"], row["last_name"], row["date_of_birth"]
        )
        updates.append(
            {"id": row["id"], "pii": sealed, "key": key_id, "hash": ring.digest(identity)}
        )
    if updates:
        bind.execute(
            sa.text(
                "UPDATE students SET pii = :pii, pii_key_id = :key, identity_hash = :hash "
                "WHERE id = :id"
            ),
            updates,
        )


def _seal_consents(bind: sa.Connection) -> None:
    ring = keyring()
    updates = []
    for row in bind.execute(sa.text("SELECT id, signer_name FROM consents")).mappings():
        key_id, sealed = seal_record(
            ring, "consents", row["id"], {"signer_name": row["signer_name"]}
        )
        updates.append({"id": row["id"], "pii": sealed, "key": key_id})
    if updates:
        bind.execute(
            sa.text("UPDATE consents SET pii = :pii, pii_key_id = :key WHERE id = :id"), updates
        )


def upgrade() -> None:
    bind = op.get_bind()
    for column in (
        sa.Column(
            "pii",
            sa.LargeBinary(),
            comment="AES-GCM: name, date of birth, guardian name, phone, email",
        ),
        sa.Column("pii_key_id", sa.String(length=32), comment="Key that sealed pii"),
        sa.Column(
            "identity_hash",
            sa.LargeBinary(length=32),
            comment="HMAC of school, name and date of birth: duplicates, lookups",
        ),
        sa.Column("pii_purged_at", sa.DateTime(timezone=True), comment="When purge erased the PII"),
    ):
        op.add_column("students", column)
    _seal_students(bind)
    for name in STUDENT_FIELDS:
        op.drop_column("students", name)
    op.create_check_constraint(
        op.f("ck_students_pii_has_key"), "students", "(pii IS NULL) = (pii_key_id IS NULL)"
    )
    op.create_check_constraint(
        op.f("ck_students_pii_or_purged"),
        "students",
        "(pii IS NULL) = (pii_purged_at IS NOT NULL)",
    )
    op.create_index(
        "uq_students_school_identity",
        "students",
        ["school_id", "identity_hash"],
        unique=True,
        postgresql_where="identity_hash IS NOT NULL",
    )

    op.add_column(
        "consents",
        sa.Column(
            "pii",
            sa.LargeBinary(),
            nullable=True,
            comment="AES-GCM: the signer's name (null once purged)",
        ),
    )
    op.add_column(
        "consents",
        sa.Column("pii_key_id", sa.String(length=32), nullable=True, comment="Key that sealed pii"),
    )
    _seal_consents(bind)
    op.drop_column("consents", "signer_name")
    op.create_check_constraint(
        op.f("ck_consents_pii_has_key"), "consents", "(pii IS NULL) = (pii_key_id IS NULL)"
    )

    op.execute(REFUSE_CHANGE_BUT_PURGE)

    op.execute("DELETE FROM idempotency_keys")
    op.drop_column("idempotency_keys", "response")
    op.add_column(
        "idempotency_keys",
        sa.Column("response", sa.LargeBinary(), nullable=True, comment="Sealed JSON body"),
    )
    op.add_column(
        "idempotency_keys",
        sa.Column(
            "key_id", sa.String(length=32), nullable=True, comment="Key that sealed response"
        ),
    )


def _open_students(bind: sa.Connection) -> None:
    ring = keyring()
    updates = []
    rows = bind.execute(sa.text("SELECT id, pii, pii_key_id FROM students")).mappings()
    for row in rows:
        if row["pii"] is None:  # purged: no way back, only placeholders
            values: dict[str, object] = {f: None for f in STUDENT_FIELDS}
            values.update(first_name="(purged)", last_name="(purged)", date_of_birth=date.min)
        else:
            values = open_record(ring, "students", row["id"], row["pii_key_id"], row["pii"])
            values["date_of_birth"] = date.fromisoformat(str(values["date_of_birth"]))
            values = {f: values.get(f) for f in STUDENT_FIELDS}
        updates.append({"id": row["id"], **values})
    if updates:
        assignments = ", ".join(f"{f} = :{f}" for f in STUDENT_FIELDS)
        update = f"UPDATE students SET {assignments} WHERE id = :id"  # noqa: S608 - constant names
        bind.execute(sa.text(update), updates)


def _open_consents(bind: sa.Connection) -> None:
    ring = keyring()
    updates = []
    for row in bind.execute(sa.text("SELECT id, pii, pii_key_id FROM consents")).mappings():
        name = "(purged)"
        if row["pii"] is not None:
            opened = open_record(ring, "consents", row["id"], row["pii_key_id"], row["pii"])
            name = str(opened["signer_name"])
        updates.append({"id": row["id"], "name": name})
    if updates:
        bind.execute(sa.text("UPDATE consents SET signer_name = :name WHERE id = :id"), updates)


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(REFUSE_CHANGE)
    op.execute("DELETE FROM idempotency_keys")
    op.drop_column("idempotency_keys", "key_id")
    op.drop_column("idempotency_keys", "response")
    op.add_column(
        "idempotency_keys",
        sa.Column("response", sa.dialects.postgresql.JSONB(), nullable=True),
    )

    op.add_column("consents", sa.Column("signer_name", sa.String(length=200), nullable=True))
    _open_consents(bind)
    op.alter_column("consents", "signer_name", nullable=False)
    op.drop_constraint(op.f("ck_consents_pii_has_key"), "consents", type_="check")
    op.drop_column("consents", "pii_key_id")
    op.drop_column("consents", "pii")

    op.add_column("students", sa.Column("first_name", sa.String(length=100), nullable=True))
    op.add_column("students", sa.Column("last_name", sa.String(length=100), nullable=True))
    op.add_column("students", sa.Column("date_of_birth", sa.Date(), nullable=True))
    op.add_column("students", sa.Column("guardian_name", sa.String(length=200), nullable=True))
    op.add_column("students", sa.Column("guardian_phone", sa.String(length=40), nullable=True))
    op.add_column("students", sa.Column("guardian_email", sa.String(length=320), nullable=True))
    _open_students(bind)
    for name in ("first_name", "last_name", "date_of_birth"):
        op.alter_column("students", name, nullable=False)
    op.drop_index("uq_students_school_identity", table_name="students")
    op.drop_constraint(op.f("ck_students_pii_or_purged"), "students", type_="check")
    op.drop_constraint(op.f("ck_students_pii_has_key"), "students", type_="check")
    for name in ("pii_purged_at", "identity_hash", "pii_key_id", "pii"):
        op.drop_column("students", name)
