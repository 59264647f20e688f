"""Catalog tables: organizations, locations, programs (HSDS services) and what hangs off them.

Constraints live here as well as in the pydantic schemas, so a bulk load or a future
code path cannot store what the API would refuse.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.catalog.enums import (
    Category,
    CostPeriod,
    EnrollmentStatus,
    Frequency,
    OrganizationType,
    ProgramStatus,
    Season,
)
from service.db import Base, Timestamped, Versioned, enum_column


class Organization(Versioned, Timestamped, Base):
    __tablename__ = "organizations"
    __table_args__ = (Index("ix_organizations_name_id", "name", "id"),)  # list order

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    type: Mapped[OrganizationType] = mapped_column(enum_column(OrganizationType), index=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(String(2000))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    external_id: Mapped[str | None] = mapped_column(
        String(100), unique=True, comment="Identifier in a source system (e.g. ct:1030111)"
    )

    locations: Mapped[list[Location]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )


program_locations = Table(
    "program_locations",
    Base.metadata,
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "location_id", ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    # The HSDS service_at_location id of this link (kept from an import, else generated).
    Column("id", Uuid, nullable=False, unique=True, server_default=text("gen_random_uuid()")),
)

program_taxonomy_terms = Table(
    "program_taxonomy_terms",
    Base.metadata,
    Column("program_id", ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "taxonomy_term_id",
        ForeignKey("taxonomy_terms.id", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    ),
)


class Location(Versioned, Timestamped, Base):
    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint("is_virtual OR point IS NOT NULL", name="point_unless_virtual"),
        Index("ix_locations_point", "point", postgresql_using="gist"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(300))
    address_1: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(50))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    country: Mapped[str] = mapped_column(String(2), default="US", server_default="US")
    is_virtual: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    point: Mapped[Any] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=False), nullable=True
    )
    tract_geoid: Mapped[str | None] = mapped_column(
        String(20), index=True, comment="Census tract containing the point (set by trigger)"
    )
    zcta: Mapped[str | None] = mapped_column(
        String(10), index=True, comment="ZIP code tabulation area containing the point"
    )

    organization: Mapped[Organization] = relationship(back_populates="locations")


class Taxonomy(Base):
    __tablename__ = "taxonomies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    uri: Mapped[str | None] = mapped_column(String(2000))
    version: Mapped[str | None] = mapped_column(String(50))


class TaxonomyTerm(Base):
    __tablename__ = "taxonomy_terms"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    taxonomy_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("taxonomies.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_es: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("taxonomy_terms.id", ondelete="SET NULL")
    )


class Program(Versioned, Timestamped, Base):
    """A program families can join: an HSDS 3.0 `service`."""

    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint("min_age IS NULL OR min_age >= 0", name="min_age_nonnegative"),
        CheckConstraint("max_age IS NULL OR max_age <= 120", name="max_age_bounded"),
        CheckConstraint(
            "min_age IS NULL OR max_age IS NULL OR min_age <= max_age", name="age_range"
        ),
        CheckConstraint("min_grade IS NULL OR min_grade BETWEEN -1 AND 12", name="min_grade"),
        CheckConstraint("max_grade IS NULL OR max_grade BETWEEN -1 AND 12", name="max_grade"),
        CheckConstraint(
            "min_grade IS NULL OR max_grade IS NULL OR min_grade <= max_grade",
            name="grade_range",
        ),
        CheckConstraint(
            "season <> 'dates' OR (starts_on IS NOT NULL AND ends_on IS NOT NULL)",
            name="dates_season_has_dates",
        ),
        CheckConstraint(
            "starts_on IS NULL OR ends_on IS NULL OR starts_on <= ends_on", name="date_range"
        ),
        CheckConstraint("seats_available IS NULL OR seats_available >= 0", name="seats"),
        Index("ix_programs_languages", "languages", postgresql_using="gin"),
        Index("ix_programs_accessibility", "accessibility", postgresql_using="gin"),
        Index("ix_programs_service_area", "service_area", postgresql_using="gist"),
        Index("ix_programs_name_id", "name", "id"),  # the order of every program list
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    email: Mapped[str | None] = mapped_column(String(320))
    category: Mapped[Category] = mapped_column(enum_column(Category), index=True)
    min_age: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    max_age: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    min_grade: Mapped[int | None] = mapped_column(SmallInteger)
    max_grade: Mapped[int | None] = mapped_column(SmallInteger)
    languages: Mapped[list[str]] = mapped_column(
        ARRAY(String(3)), default=list, server_default="{}"
    )
    season: Mapped[Season] = mapped_column(enum_column(Season), default=Season.year_round)
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    enrollment_status: Mapped[EnrollmentStatus] = mapped_column(
        enum_column(EnrollmentStatus), default=EnrollmentStatus.open
    )
    seats_available: Mapped[int | None] = mapped_column(Integer)
    registration_deadline: Mapped[date | None]
    transportation_provided: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="false"
    )
    accessibility: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), default=list, server_default="{}"
    )
    accepting_referrals: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    status: Mapped[ProgramStatus] = mapped_column(
        enum_column(ProgramStatus), default=ProgramStatus.active, index=True
    )
    translations: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    service_area: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True
    )
    last_verified_at: Mapped[datetime | None]

    organization: Mapped[Organization] = relationship()
    # Parts in the order the stored document (migration 0011) lists them, so a write's
    # response and a later read agree.
    locations: Mapped[list[Location]] = relationship(
        secondary=program_locations, order_by="(Location.name, Location.id)"
    )
    taxonomy_terms: Mapped[list[TaxonomyTerm]] = relationship(
        secondary=program_taxonomy_terms, order_by="TaxonomyTerm.code"
    )
    cost_options: Mapped[list[CostOption]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="CostOption.position"
    )
    schedules: Mapped[list[Schedule]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Schedule.position"
    )


class CostOption(Base):
    __tablename__ = "cost_options"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_nonnegative"),
        CheckConstraint("NOT free OR COALESCE(amount, 0) = 0", name="free_costs_nothing"),
        CheckConstraint(
            "amount IS NULL OR (currency IS NOT NULL AND period IS NOT NULL)",
            name="amount_has_currency_and_period",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    free: Mapped[bool] = mapped_column(Boolean, default=False)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    period: Mapped[CostPeriod | None] = mapped_column(enum_column(CostPeriod))
    sliding_scale: Mapped[bool] = mapped_column(Boolean, default=False)
    scholarships: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)


class Schedule(Base):
    """An RFC 5545 style weekly/monthly recurrence of a program."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("opens_at < closes_at", name="opens_before_closes"),
        CheckConstraint(
            "valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to",
            name="valid_range",
        ),
        CheckConstraint("interval >= 1", name="interval_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    freq: Mapped[Frequency] = mapped_column(enum_column(Frequency), default=Frequency.WEEKLY)
    interval: Mapped[int] = mapped_column(SmallInteger, default=1)
    byday: Mapped[list[str]] = mapped_column(ARRAY(String(4)), default=list)
    opens_at: Mapped[time]
    closes_at: Mapped[time]
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]
    description: Mapped[str | None] = mapped_column(Text)


class ProgramDocument(Base):
    """A program's whole ProgramOut JSON, written by PostgreSQL's triggers whenever the
    program or anything it shows changes (migration 0011, documents.py); never by the ORM."""

    __tablename__ = "program_documents"

    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text, comment="The program's ProgramOut JSON")
