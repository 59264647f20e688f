"""Each program's API JSON, written by PostgreSQL when the program changes.

A program read or a list used to aggregate the program's locations, terms, costs and
schedules on every request and re-map them in Python. Now `program_document(id)` writes
a program's whole ProgramOut JSON, and `program_documents` keeps it: triggers rewrite a
program's document in the same transaction as any change to what it shows (the program,
its parts, a location it is held at, a taxonomy term it carries), whatever code path
made the change. Reads send the stored text as it is, and fall back to
`program_document(id)` for a program that has none.

Concurrent writers of one program: the trigger first locks the program's stored
document (waiting for another writer of it to commit), then builds the document in a
new statement, whose snapshot (READ COMMITTED) sees that writer's committed change. So
the last writer to commit writes a document that holds both changes.

A bulk load may set `youthlink.program_documents` to `deferred` for its transaction:
the triggers then do nothing, and the load writes the documents of what it loaded in
one statement at its end (service/catalog/documents.py).

The function is frozen here (migrations import no application code); a change of
ProgramOut's shape is a new migration that replaces it. tests/catalog/test_program_json.py
holds it equal to ProgramOut, program by program.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# UTC, as the API writes times: seconds, microseconds only when there are some, "Z".
# STABLE, as to_char is: a SQL function declared less volatile than its body is not
# inlined, and a call per field made documents three times slower to write.
UTC_TEXT = """
CREATE FUNCTION utc_text(moment timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM moment)::bigint % 1000000 = 0 THEN ''
                ELSE to_char(moment AT TIME ZONE 'UTC', '.US') END
        || 'Z'
$$
"""

# A local wall-clock time as the API writes it: HH:MM, HH:MM:SS when it has seconds.
CLOCK_TEXT = """
CREATE FUNCTION clock_text(moment time) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(moment, CASE WHEN extract(second FROM moment) >= 1
                                THEN 'HH24:MI:SS' ELSE 'HH24:MI' END)
$$
"""

# A grade stored as its rank (PK = -1, K = 0, 1..12) as the API names it.
GRADE_TEXT = """
CREATE FUNCTION grade_text(grade_rank smallint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE grade_rank WHEN -1 THEN 'PK' WHEN 0 THEN 'K' ELSE grade_rank::text END
$$
"""

# ProgramOut of one program (NULL when there is no such program). Field order is
# ProgramOut's; parts are ordered as the ORM orders them.
DOCUMENT = """
CREATE FUNCTION program_document(wanted uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
    SELECT json_build_object(
        'id', p.id,
        'organization_id', p.organization_id,
        'name', p.name,
        'description', p.description,
        'url', p.url,
        'email', p.email,
        'category', p.category,
        'taxonomy_terms', COALESCE((
            SELECT json_agg(json_build_object(
                       'id', t.id, 'code', t.code, 'name', t.name, 'name_es', t.name_es,
                       'description', t.description) ORDER BY t.code)
              FROM program_taxonomy_terms pt
              JOIN taxonomy_terms t ON t.id = pt.taxonomy_term_id
             WHERE pt.program_id = p.id), '[]'::json),
        'min_age', p.min_age::float8,
        'max_age', p.max_age::float8,
        'min_grade', grade_text(p.min_grade),
        'max_grade', grade_text(p.max_grade),
        'cost_options', COALESCE((
            SELECT json_agg(json_build_object(
                       'free', c.free, 'amount', c.amount::float8, 'currency', c.currency,
                       'period', c.period, 'sliding_scale', c.sliding_scale,
                       'scholarships', c.scholarships, 'description', c.description)
                       ORDER BY c.position)
              FROM cost_options c WHERE c.program_id = p.id), '[]'::json),
        'languages', to_json(COALESCE(p.languages, '{}')),
        'schedules', COALESCE((
            SELECT json_agg(json_build_object(
                       'freq', s.freq, 'interval', s.interval, 'byday', s.byday,
                       'opens_at', clock_text(s.opens_at), 'closes_at', clock_text(s.closes_at),
                       'valid_from', s.valid_from, 'valid_to', s.valid_to,
                       'description', s.description) ORDER BY s.position)
              FROM schedules s WHERE s.program_id = p.id), '[]'::json),
        'season', p.season,
        'starts_on', p.starts_on,
        'ends_on', p.ends_on,
        'enrollment_status', p.enrollment_status,
        'seats_available', p.seats_available,
        'registration_deadline', p.registration_deadline,
        'transportation_provided', p.transportation_provided,
        'accessibility', to_json(COALESCE(p.accessibility, '{}')),
        'accepting_referrals', p.accepting_referrals,
        'status', p.status,
        'translations', COALESCE((
            SELECT json_object_agg(lang, json_build_object(
                       'name', tr ->> 'name',
                       'description', COALESCE(tr ->> 'description', '')))
              FROM jsonb_each(p.translations) AS each(lang, tr)), '{}'::json),
        'locations', COALESCE((
            SELECT json_agg(json_build_object(
                       'id', l.id, 'organization_id', l.organization_id, 'name', l.name,
                       'address_1', l.address_1, 'city', l.city, 'state', l.state,
                       'postal_code', l.postal_code, 'country', l.country,
                       'is_virtual', l.is_virtual,
                       'latitude', ST_Y(l.point::geometry), 'longitude', ST_X(l.point::geometry),
                       'tract_geoid', l.tract_geoid, 'zcta', l.zcta, 'version', l.version)
                       ORDER BY l.name, l.id)
              FROM program_locations pl JOIN locations l ON l.id = pl.location_id
             WHERE pl.program_id = p.id), '[]'::json),
        'service_area', ST_AsGeoJSON(p.service_area, 20)::json,
        'last_verified_at', utc_text(p.last_verified_at),
        'created_at', utc_text(p.created_at),
        'updated_at', utc_text(p.updated_at),
        'version', p.version)::text
      FROM programs p WHERE p.id = wanted);
END $$
"""

# Write the documents of these programs: lock the stored ones first, then build them in
# a new statement (see the module docstring). Programs that no longer exist are skipped.
WRITE = """
CREATE FUNCTION program_documents_write(wanted uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM program_documents
      WHERE program_id = ANY(wanted) ORDER BY program_id FOR UPDATE;
    INSERT INTO program_documents (program_id, body)
    SELECT p.id, program_document(p.id) FROM programs p WHERE p.id = ANY(wanted)
    ON CONFLICT (program_id) DO UPDATE SET body = EXCLUDED.body;
END $$
"""

REFRESH = """
CREATE FUNCTION program_documents_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted uuid[];
BEGIN
    IF current_setting('youthlink.program_documents', true) = 'deferred' THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'programs' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN NULL;  -- the document goes with the program (ON DELETE CASCADE)
        END IF;
        wanted := ARRAY[NEW.id];
    ELSIF TG_TABLE_NAME = 'locations' THEN
        wanted := ARRAY(SELECT program_id FROM program_locations WHERE location_id = NEW.id);
    ELSIF TG_TABLE_NAME = 'taxonomy_terms' THEN
        wanted := ARRAY(
            SELECT program_id FROM program_taxonomy_terms WHERE taxonomy_term_id = NEW.id);
    ELSIF TG_OP = 'INSERT' THEN
        wanted := ARRAY[NEW.program_id];
    ELSIF TG_OP = 'DELETE' THEN
        wanted := ARRAY[OLD.program_id];
    ELSE
        wanted := ARRAY[OLD.program_id, NEW.program_id];
    END IF;
    IF cardinality(wanted) > 0 THEN
        PERFORM program_documents_write(wanted);
    END IF;
    RETURN NULL;
END $$
"""

TRIGGERS = {
    "programs": "AFTER INSERT OR UPDATE",
    "cost_options": "AFTER INSERT OR UPDATE OR DELETE",
    "schedules": "AFTER INSERT OR UPDATE OR DELETE",
    "program_locations": "AFTER INSERT OR UPDATE OR DELETE",
    "program_taxonomy_terms": "AFTER INSERT OR UPDATE OR DELETE",
    "locations": "AFTER UPDATE",
    "taxonomy_terms": "AFTER UPDATE OF code, name, name_es, description",
}
FUNCTIONS = (
    "program_documents_refresh()",
    "program_documents_write(uuid[])",
    "program_document(uuid)",
    "grade_text(smallint)",
    "clock_text(time)",
    "utc_text(timestamptz)",
)


def upgrade() -> None:
    op.create_table(
        "program_documents",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False, comment="The program's ProgramOut JSON"),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_program_documents_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_program_documents")),
    )
    for sql in (UTC_TEXT, CLOCK_TEXT, GRADE_TEXT, DOCUMENT, WRITE, REFRESH):
        op.execute(sql)
    for table, events in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER program_documents_refresh {events} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION program_documents_refresh()"
        )
    op.execute("INSERT INTO program_documents SELECT id, program_document(id) FROM programs")


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS program_documents_refresh ON {table}")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.drop_table("program_documents")
