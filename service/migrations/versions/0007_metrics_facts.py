"""Referral metrics' columnar source tables, kept by triggers in the writing transaction.

referral_facts (one row per referral) and metrics_students (one per student) hold the
values GET /metrics/referrals reads, as fixed-width codes. Statement-level triggers with
transition tables keep them (set-based: a COPY of 50,000 referrals costs one INSERT ...
SELECT). Each row records the transaction that wrote it last (written_by), so the API can
fetch only what changed since the snapshot its loaded columns are from; deletions, which
that cannot see, are logged in metrics_deletions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = "(pg_current_xact_id())::text::bigint"

# A statement's new codes: only values not coded yet (ON CONFLICT would burn a serial per row).
NEW_CODES = """
INSERT INTO metrics_codes (kind, value)
SELECT DISTINCT v.kind, v.value
  FROM {rows}
 CROSS JOIN LATERAL (VALUES {values}) AS v(kind, value)
 WHERE v.value IS NOT NULL
   AND NOT EXISTS (SELECT FROM metrics_codes c WHERE c.kind = v.kind AND c.value = v.value)
ON CONFLICT DO NOTHING
"""

STUDENT_CODES = NEW_CODES.format(
    rows="{source} s",
    values="('gender', s.gender::text), ('race', s.races[1]::text), "
    "('language', s.home_language::text), ('tract', s.home_tract::text)",
)
REFERRAL_CODES = NEW_CODES.format(
    rows="{source} r JOIN programs p ON p.id = r.program_id",
    values="('organization', r.provider_id::text), ('organization', r.school_id::text), "
    "('category', p.category::text), ('status', r.status::text)",
)
CATEGORY_CODES = NEW_CODES.format(rows="{source} p", values="('category', p.category::text)")


def _code(alias: str, column: str) -> str:
    # NULL is 0; a value without a code (a bug) stays NULL and fails NOT NULL loudly.
    return f"CASE WHEN {column} IS NULL THEN 0 ELSE {alias}.code END"


def _days(column: str) -> str:
    # The expression the metrics always ordered by, evaluated once, here.
    return f"coalesce((extract(epoch FROM {column} - r.sent_at) / 86400.0)::float8, 'NaN')"


STUDENT_VALUES = {
    "grade": "s.grade",
    "gender": _code("g", "s.gender"),
    "hispanic_latino": "CASE s.hispanic_latino WHEN true THEN 1 WHEN false THEN 2 ELSE 0 END",
    "race_count": "coalesce(cardinality(s.races), 0)",
    "first_race": _code("r", "s.races[1]"),
    "home_language": _code("l", "s.home_language"),
    "english_learner": "CASE s.english_learner WHEN true THEN 1 WHEN false THEN 2 ELSE 0 END",
    "home_tract": _code("t", "s.home_tract"),
}
STUDENT_SOURCE = """{source} s
  LEFT JOIN metrics_codes g ON g.kind = 'gender' AND g.value = s.gender::text
  LEFT JOIN metrics_codes r ON r.kind = 'race' AND r.value = s.races[1]::text
  LEFT JOIN metrics_codes l ON l.kind = 'language' AND l.value = s.home_language::text
  LEFT JOIN metrics_codes t ON t.kind = 'tract' AND t.value = s.home_tract::text"""

FACT_VALUES = {
    "student_key": "s.key",
    "provider": "pc.code",
    "school": "sc.code",
    "category": "cc.code",
    "status": "tc.code",
    "sent_at": "r.sent_at",
    "closed_at": "coalesce(r.closed_at, 'infinity')",
    "response_due_at": "r.response_due_at",
    "contact_due_at": "r.contact_due_at",
    "days_to_first_response": _days("r.responded_at"),
    "days_to_contact": _days("r.contacted_at"),
    "days_to_enrollment": _days("r.enrolled_at"),
}
# LEFT JOINs: a referral whose student or code is missing (a bug) fails NOT NULL.
FACT_SOURCE = """{source} r
  JOIN programs p ON p.id = r.program_id
  LEFT JOIN metrics_students s ON s.student_id = r.student_id
  LEFT JOIN metrics_codes pc ON pc.kind = 'organization' AND pc.value = r.provider_id::text
  LEFT JOIN metrics_codes sc ON sc.kind = 'organization' AND sc.value = r.school_id::text
  LEFT JOIN metrics_codes cc ON cc.kind = 'category' AND cc.value = p.category::text
  LEFT JOIN metrics_codes tc ON tc.kind = 'status' AND tc.value = r.status::text"""


def _insert(table: str, id_column: str, id_value: str, values: dict[str, str], source: str) -> str:
    columns = ", ".join([id_column, *values])
    return (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608 - constants of this module
        f"SELECT {', '.join([id_value, *values.values()])} FROM {source}"
    )


def _update(table: str, id_column: str, id_value: str, values: dict[str, str], source: str) -> str:
    """Only rows whose values change: an update that changes nothing is no change."""
    new = ", ".join(f"{v} AS {k}" for k, v in values.items())
    return (
        f"UPDATE {table} m SET ({', '.join(values)}, written_by) = "  # noqa: S608
        f"ROW({', '.join('n.' + k for k in values)}, {WRITER}) "
        f"FROM (SELECT {id_value} AS id, {new} FROM {source}) n "
        f"WHERE m.{id_column} = n.id AND ({', '.join('m.' + k for k in values)}) "
        f"IS DISTINCT FROM ({', '.join('n.' + k for k in values)})"
    )


def _function(name: str, body: list[str]) -> str:
    statements = "".join(f"    {statement};\n" for statement in body)
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{statements}    RETURN NULL;\nEND $$"
    )


STUDENTS = STUDENT_SOURCE.format(source="changed")
FACTS = FACT_SOURCE.format(source="changed")
FUNCTIONS = [
    _function(
        "metrics_students_inserted",
        [
            STUDENT_CODES.format(source="changed"),
            _insert("metrics_students", "student_id", "s.id", STUDENT_VALUES, STUDENTS),
        ],
    ),
    _function(
        "metrics_students_updated",
        [
            STUDENT_CODES.format(source="changed"),
            _update("metrics_students", "student_id", "s.id", STUDENT_VALUES, STUDENTS),
        ],
    ),
    _function(
        "metrics_students_deleted",
        ["DELETE FROM metrics_students m USING changed s WHERE m.student_id = s.id"],
    ),
    _function(
        "metrics_referrals_inserted",
        [
            REFERRAL_CODES.format(source="changed"),
            _insert("referral_facts", "referral_id", "r.id", FACT_VALUES, FACTS),
        ],
    ),
    _function(
        "metrics_referrals_updated",
        [
            REFERRAL_CODES.format(source="changed"),
            _update("referral_facts", "referral_id", "r.id", FACT_VALUES, FACTS),
        ],
    ),
    _function(
        "metrics_referrals_deleted",
        ["DELETE FROM referral_facts f USING changed r WHERE f.referral_id = r.id"],
    ),
    # Only programs whose category changed (catalog imports update programs in bulk).
    f"""CREATE FUNCTION metrics_programs_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM changed p JOIN before o ON o.id = p.id
         WHERE o.category IS DISTINCT FROM p.category
    ) THEN
        RETURN NULL;
    END IF;
    {CATEGORY_CODES.format(source="changed")};
    UPDATE referral_facts f SET (category, written_by) = ROW(c.code, {WRITER})
      FROM changed p
      JOIN before o ON o.id = p.id AND o.category IS DISTINCT FROM p.category
      JOIN referrals r ON r.program_id = p.id
      JOIN metrics_codes c ON c.kind = 'category' AND c.value = p.category::text
     WHERE f.referral_id = r.id AND f.category <> c.code;
    RETURN NULL;
END $$""",  # noqa: S608 - constants of this module
    # A deletion (or TRUNCATE) is logged once per statement that removed anything.
    """CREATE FUNCTION metrics_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO metrics_deletions DEFAULT VALUES;
    ELSIF EXISTS (SELECT FROM changed) THEN
        INSERT INTO metrics_deletions DEFAULT VALUES;
    END IF;
    RETURN NULL;
END $$""",
]

# (table, event, transition table, function)
TRIGGERS = [
    ("students", "INSERT", "NEW TABLE AS changed", "metrics_students_inserted"),
    ("students", "UPDATE", "NEW TABLE AS changed", "metrics_students_updated"),
    ("students", "DELETE", "OLD TABLE AS changed", "metrics_students_deleted"),
    ("referrals", "INSERT", "NEW TABLE AS changed", "metrics_referrals_inserted"),
    ("referrals", "UPDATE", "NEW TABLE AS changed", "metrics_referrals_updated"),
    ("referrals", "DELETE", "OLD TABLE AS changed", "metrics_referrals_deleted"),
    ("programs", "UPDATE", "OLD TABLE AS before NEW TABLE AS changed", "metrics_programs_updated"),
    ("referral_facts", "DELETE", "OLD TABLE AS changed", "metrics_rows_deleted"),
    ("referral_facts", "TRUNCATE", None, "metrics_rows_deleted"),
    ("metrics_students", "DELETE", "OLD TABLE AS changed", "metrics_rows_deleted"),
    ("metrics_students", "TRUNCATE", None, "metrics_rows_deleted"),
]


def _trigger_name(table: str, event: str) -> str:
    return f"{table}_metrics_{event.lower()}"


def upgrade() -> None:
    writer = sa.text(WRITER)
    op.create_table(
        "metrics_codes",
        sa.Column("code", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_metrics_codes")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_metrics_codes_kind_value")),
    )
    op.create_table(
        "metrics_students",
        sa.Column("key", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.Column("gender", sa.Integer(), nullable=False),
        sa.Column(
            "hispanic_latino", sa.SmallInteger(), nullable=False, comment="0 null, 1 yes, 2 no"
        ),
        sa.Column("race_count", sa.SmallInteger(), nullable=False),
        sa.Column("first_race", sa.Integer(), nullable=False),
        sa.Column("home_language", sa.Integer(), nullable=False),
        sa.Column(
            "english_learner", sa.SmallInteger(), nullable=False, comment="0 null, 1 yes, 2 no"
        ),
        sa.Column("home_tract", sa.Integer(), nullable=False),
        sa.Column("written_by", sa.BigInteger(), server_default=writer, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_metrics_students")),
        sa.UniqueConstraint("student_id", name=op.f("uq_metrics_students_student_id")),
    )
    op.create_index(
        op.f("ix_metrics_students_written_by"), "metrics_students", ["written_by"], unique=False
    )
    op.create_table(
        "referral_facts",
        sa.Column("key", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("student_key", sa.Integer(), nullable=False),
        sa.Column("provider", sa.Integer(), nullable=False),
        sa.Column("school", sa.Integer(), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("days_to_first_response", sa.Double(), nullable=False),
        sa.Column("days_to_contact", sa.Double(), nullable=False),
        sa.Column("days_to_enrollment", sa.Double(), nullable=False),
        sa.Column("written_by", sa.BigInteger(), server_default=writer, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_referral_facts")),
        sa.UniqueConstraint("referral_id", name=op.f("uq_referral_facts_referral_id")),
    )
    op.create_index(
        op.f("ix_referral_facts_written_by"), "referral_facts", ["written_by"], unique=False
    )
    op.create_table(
        "metrics_deletions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("written_by", sa.BigInteger(), server_default=writer, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics_deletions")),
    )
    op.create_index(
        op.f("ix_metrics_deletions_written_by"), "metrics_deletions", ["written_by"], unique=False
    )
    # What is already there, then the triggers that keep it.
    op.execute(STUDENT_CODES.format(source="students"))
    op.execute(
        _insert(
            "metrics_students",
            "student_id",
            "s.id",
            STUDENT_VALUES,
            STUDENT_SOURCE.format(source="students"),
        )
    )
    op.execute(REFERRAL_CODES.format(source="referrals"))
    op.execute(
        _insert(
            "referral_facts",
            "referral_id",
            "r.id",
            FACT_VALUES,
            FACT_SOURCE.format(source="referrals"),
        )
    )
    for function in FUNCTIONS:
        op.execute(function)
    for table, event, referencing, function in TRIGGERS:
        transition = f"REFERENCING {referencing} " if referencing else ""
        op.execute(
            f"CREATE TRIGGER {_trigger_name(table, event)} AFTER {event} ON {table} "
            f"{transition}FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def downgrade() -> None:
    for table, event, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {_trigger_name(table, event)} ON {table}")
    for function in {function for _, _, _, function in TRIGGERS}:
        op.execute(f"DROP FUNCTION {function}()")
    op.drop_table("metrics_deletions")
    op.drop_table("referral_facts")
    op.drop_table("metrics_students")
    op.drop_table("metrics_codes")
