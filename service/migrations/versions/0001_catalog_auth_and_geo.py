"""catalog, auth and geo

Revision ID: 0001
Revises:
Create Date: 2026-11-22 09:35:35.041375
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Each location is labelled with the census tract and ZCTA containing its point when it
# is written, whatever the code path (API, seed, bulk COPY). Loading geodata re-labels.
ASSIGN_AREAS = """
CREATE FUNCTION locations_assign_areas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.point IS NULL THEN
        NEW.tract_geoid := NULL;
        NEW.zcta := NULL;
    ELSE
        SELECT code INTO NEW.tract_geoid FROM areas
         WHERE kind = 'tract' AND ST_Covers(geom, NEW.point::geometry) ORDER BY code LIMIT 1;
        SELECT code INTO NEW.zcta FROM areas
         WHERE kind = 'zip' AND ST_Covers(geom, NEW.point::geometry) ORDER BY code LIMIT 1;
    END IF;
    RETURN NEW;
END $$
"""
ASSIGN_AREAS_TRIGGER = """
CREATE TRIGGER locations_assign_areas BEFORE INSERT OR UPDATE OF point ON locations
    FOR EACH ROW EXECUTE FUNCTION locations_assign_areas()
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "areas",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "city",
                "tract",
                "zip",
                name="areakind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column(
            "code",
            sa.String(length=20),
            nullable=False,
            comment="GEOID of a tract/city, ZIP of a ZCTA",
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
        sa.UniqueConstraint("kind", "code", name=op.f("uq_areas_kind_code")),
    )
    op.create_index("ix_areas_geom", "areas", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "provider",
                "school",
                "city",
                "backbone",
                name="organizationtype",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("website", sa.String(length=2000), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("verified", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "external_id",
            sa.String(length=100),
            nullable=True,
            comment="Identifier in a source system (e.g. ct:1030111)",
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("external_id", name=op.f("uq_organizations_external_id")),
    )
    op.create_index(op.f("ix_organizations_type"), "organizations", ["type"], unique=False)
    op.create_table(
        "taxonomies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("uri", sa.String(length=2000), nullable=True),
        sa.Column("version", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomies")),
        sa.UniqueConstraint("name", name=op.f("uq_taxonomies_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "provider",
                "school",
                "analyst",
                "partner_app",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role = 'admin' OR organization_id IS NOT NULL",
            name=op.f("ck_api_keys_org_unless_admin"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(
        op.f("ix_api_keys_organization_id"), "api_keys", ["organization_id"], unique=False
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("address_1", sa.String(length=300), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=50), nullable=True),
        sa.Column("postal_code", sa.String(length=10), nullable=True),
        sa.Column("country", sa.String(length=2), server_default="US", nullable=False),
        sa.Column("is_virtual", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "point",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
            ),
            nullable=True,
        ),
        sa.Column(
            "tract_geoid",
            sa.String(length=20),
            nullable=True,
            comment="Census tract containing the point (set by trigger)",
        ),
        sa.Column(
            "zcta",
            sa.String(length=10),
            nullable=True,
            comment="ZIP code tabulation area containing the point",
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "is_virtual OR point IS NOT NULL", name=op.f("ck_locations_point_unless_virtual")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_locations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
    )
    op.create_index(
        op.f("ix_locations_organization_id"), "locations", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_locations_point", "locations", ["point"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_locations_tract_geoid"), "locations", ["tract_geoid"], unique=False)
    op.create_index(op.f("ix_locations_zcta"), "locations", ["zcta"], unique=False)
    op.create_table(
        "programs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "out_of_school_time",
                "social_emotional_health",
                "college_workforce_readiness",
                "early_childhood",
                "family_support",
                name="category",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("min_age", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("max_age", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("min_grade", sa.SmallInteger(), nullable=True),
        sa.Column("max_grade", sa.SmallInteger(), nullable=True),
        sa.Column(
            "languages", postgresql.ARRAY(sa.String(length=3)), server_default="{}", nullable=False
        ),
        sa.Column(
            "season",
            sa.Enum(
                "school_year",
                "summer",
                "year_round",
                "dates",
                name="season",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column(
            "enrollment_status",
            sa.Enum(
                "open",
                "waitlist",
                "closed",
                name="enrollmentstatus",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("seats_available", sa.Integer(), nullable=True),
        sa.Column("registration_deadline", sa.Date(), nullable=True),
        sa.Column("transportation_provided", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "accessibility",
            postgresql.ARRAY(sa.String(length=40)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("accepting_referrals", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "inactive",
                "defunct",
                "temporarily_closed",
                name="programstatus",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "translations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "service_area",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "season <> 'dates' OR (starts_on IS NOT NULL AND ends_on IS NOT NULL)",
            name=op.f("ck_programs_dates_season_has_dates"),
        ),
        sa.CheckConstraint(
            "max_age IS NULL OR max_age <= 120", name=op.f("ck_programs_max_age_bounded")
        ),
        sa.CheckConstraint(
            "max_grade IS NULL OR max_grade BETWEEN -1 AND 12", name=op.f("ck_programs_max_grade")
        ),
        sa.CheckConstraint(
            "min_age IS NULL OR max_age IS NULL OR min_age <= max_age",
            name=op.f("ck_programs_age_range"),
        ),
        sa.CheckConstraint(
            "min_age IS NULL OR min_age >= 0", name=op.f("ck_programs_min_age_nonnegative")
        ),
        sa.CheckConstraint(
            "min_grade IS NULL OR max_grade IS NULL OR min_grade <= max_grade",
            name=op.f("ck_programs_grade_range"),
        ),
        sa.CheckConstraint(
            "min_grade IS NULL OR min_grade BETWEEN -1 AND 12", name=op.f("ck_programs_min_grade")
        ),
        sa.CheckConstraint(
            "seats_available IS NULL OR seats_available >= 0", name=op.f("ck_programs_seats")
        ),
        sa.CheckConstraint(
            "starts_on IS NULL OR ends_on IS NULL OR starts_on <= ends_on",
            name=op.f("ck_programs_date_range"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_programs_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programs")),
    )
    op.create_index(
        "ix_programs_accessibility",
        "programs",
        ["accessibility"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(op.f("ix_programs_category"), "programs", ["category"], unique=False)
    op.create_index(
        "ix_programs_languages", "programs", ["languages"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        op.f("ix_programs_organization_id"), "programs", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_programs_service_area",
        "programs",
        ["service_area"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(op.f("ix_programs_status"), "programs", ["status"], unique=False)
    op.create_table(
        "taxonomy_terms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("taxonomy_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_es", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["taxonomy_terms.id"],
            name=op.f("fk_taxonomy_terms_parent_id_taxonomy_terms"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["taxonomy_id"],
            ["taxonomies.id"],
            name=op.f("fk_taxonomy_terms_taxonomy_id_taxonomies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomy_terms")),
        sa.UniqueConstraint("code", name=op.f("uq_taxonomy_terms_code")),
    )
    op.create_index(
        op.f("ix_taxonomy_terms_taxonomy_id"), "taxonomy_terms", ["taxonomy_id"], unique=False
    )
    op.create_table(
        "cost_options",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column(
            "period",
            sa.Enum(
                "once",
                "session",
                "day",
                "week",
                "month",
                "term",
                "year",
                name="costperiod",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column("sliding_scale", sa.Boolean(), nullable=False),
        sa.Column("scholarships", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "NOT free OR COALESCE(amount, 0) = 0", name=op.f("ck_cost_options_free_costs_nothing")
        ),
        sa.CheckConstraint(
            "amount IS NULL OR (currency IS NOT NULL AND period IS NOT NULL)",
            name=op.f("ck_cost_options_amount_has_currency_and_period"),
        ),
        sa.CheckConstraint(
            "amount IS NULL OR amount >= 0", name=op.f("ck_cost_options_amount_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_cost_options_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_options")),
    )
    op.create_index(
        op.f("ix_cost_options_program_id"), "cost_options", ["program_id"], unique=False
    )
    op.create_table(
        "program_locations",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_program_locations_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_program_locations_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("program_id", "location_id", name=op.f("pk_program_locations")),
    )
    op.create_index(
        op.f("ix_program_locations_location_id"), "program_locations", ["location_id"], unique=False
    )
    op.create_table(
        "program_taxonomy_terms",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("taxonomy_term_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_program_taxonomy_terms_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["taxonomy_term_id"],
            ["taxonomy_terms.id"],
            name=op.f("fk_program_taxonomy_terms_taxonomy_term_id_taxonomy_terms"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "program_id", "taxonomy_term_id", name=op.f("pk_program_taxonomy_terms")
        ),
    )
    op.create_index(
        op.f("ix_program_taxonomy_terms_taxonomy_term_id"),
        "program_taxonomy_terms",
        ["taxonomy_term_id"],
        unique=False,
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column(
            "freq",
            sa.Enum(
                "WEEKLY",
                "MONTHLY",
                name="frequency",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("interval", sa.SmallInteger(), nullable=False),
        sa.Column("byday", postgresql.ARRAY(sa.String(length=4)), nullable=False),
        sa.Column("opens_at", sa.Time(), nullable=False),
        sa.Column("closes_at", sa.Time(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.CheckConstraint("interval >= 1", name=op.f("ck_schedules_interval_positive")),
        sa.CheckConstraint("opens_at < closes_at", name=op.f("ck_schedules_opens_before_closes")),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to",
            name=op.f("ck_schedules_valid_range"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_schedules_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_program_id"), "schedules", ["program_id"], unique=False)
    op.execute(ASSIGN_AREAS)
    op.execute(ASSIGN_AREAS_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS locations_assign_areas ON locations")
    op.execute("DROP FUNCTION IF EXISTS locations_assign_areas()")
    op.drop_index(op.f("ix_schedules_program_id"), table_name="schedules")
    op.drop_table("schedules")
    op.drop_index(
        op.f("ix_program_taxonomy_terms_taxonomy_term_id"), table_name="program_taxonomy_terms"
    )
    op.drop_table("program_taxonomy_terms")
    op.drop_index(op.f("ix_program_locations_location_id"), table_name="program_locations")
    op.drop_table("program_locations")
    op.drop_index(op.f("ix_cost_options_program_id"), table_name="cost_options")
    op.drop_table("cost_options")
    op.drop_index(op.f("ix_taxonomy_terms_taxonomy_id"), table_name="taxonomy_terms")
    op.drop_table("taxonomy_terms")
    op.drop_index(op.f("ix_programs_status"), table_name="programs")
    op.drop_index("ix_programs_service_area", table_name="programs", postgresql_using="gist")
    op.drop_index(op.f("ix_programs_organization_id"), table_name="programs")
    op.drop_index("ix_programs_languages", table_name="programs", postgresql_using="gin")
    op.drop_index(op.f("ix_programs_category"), table_name="programs")
    op.drop_index("ix_programs_accessibility", table_name="programs", postgresql_using="gin")
    op.drop_table("programs")
    op.drop_index(op.f("ix_locations_zcta"), table_name="locations")
    op.drop_index(op.f("ix_locations_tract_geoid"), table_name="locations")
    op.drop_index("ix_locations_point", table_name="locations", postgresql_using="gist")
    op.drop_index(op.f("ix_locations_organization_id"), table_name="locations")
    op.drop_table("locations")
    op.drop_index(op.f("ix_api_keys_organization_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("taxonomies")
    op.drop_index(op.f("ix_organizations_type"), table_name="organizations")
    op.drop_table("organizations")
    op.drop_index("ix_areas_geom", table_name="areas", postgresql_using="gist")
    op.drop_table("areas")
