"""Reading the catalog for HSDS: active programs only, every filter ANDed.

Filters are the HSDS 3.0 API's (search, taxonomy_term_id, taxonomy_id, organization_id,
modified_after; postcode and proximity on service_at_locations) and the Open Referral
UK profile's (minimum_age, maximum_age, day, start_time, end_time).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import ColumnElement, Select, and_, cast, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from service.auth.scope import public_program
from service.catalog.enums import Weekday
from service.catalog.models import (
    Location,
    Organization,
    Program,
    Schedule,
    Taxonomy,
    TaxonomyTerm,
    program_locations,
    program_taxonomy_terms,
)
from service.catalog.repository import PROGRAM_LOADS
from service.errors import FieldError, Unprocessable
from service.geo.models import Area, AreaKind
from service.pagination import PageParams, fetch_page

LOADS = (*PROGRAM_LOADS, selectinload(Program.organization))
PL = program_locations.c
STREAM_BATCH = 500


@dataclass(frozen=True)
class ServiceFilter:
    search: str | None = None
    taxonomy_term_id: uuid.UUID | None = None
    taxonomy_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    modified_after: datetime | None = None
    minimum_age: float | None = None
    maximum_age: float | None = None
    day: Weekday | None = None
    start_time: time | None = None
    end_time: time | None = None


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def service_conditions(f: ServiceFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [public_program()]
    if f.search:
        conditions.append(
            or_(_contains(Program.name, f.search), _contains(Program.description, f.search))
        )
    if f.taxonomy_term_id is not None:
        conditions.append(
            exists().where(
                program_taxonomy_terms.c.program_id == Program.id,
                program_taxonomy_terms.c.taxonomy_term_id == f.taxonomy_term_id,
            )
        )
    if f.taxonomy_id is not None:
        conditions.append(
            exists().where(
                program_taxonomy_terms.c.program_id == Program.id,
                program_taxonomy_terms.c.taxonomy_term_id == TaxonomyTerm.id,
                TaxonomyTerm.taxonomy_id == f.taxonomy_id,
            )
        )
    if f.organization_id is not None:
        conditions.append(Program.organization_id == f.organization_id)
    if f.modified_after is not None:
        conditions.append(Program.updated_at >= f.modified_after)
    # Open Referral UK: services a person of these ages could attend.
    if f.minimum_age is not None:
        conditions.append(or_(Program.max_age.is_(None), Program.max_age >= f.minimum_age))
    if f.maximum_age is not None:
        conditions.append(or_(Program.min_age.is_(None), Program.min_age <= f.maximum_age))
    if f.day is not None or f.start_time is not None or f.end_time is not None:
        schedule = [Schedule.program_id == Program.id]
        if f.day is not None:
            # WEEKLY byday holds MO..SU; MONTHLY may prefix an ordinal (2MO, -1FR).
            schedule.append(func.array_to_string(Schedule.byday, ",").like(f"%{f.day.value}%"))
        if f.start_time is not None:
            schedule.append(Schedule.opens_at >= f.start_time)
        if f.end_time is not None:
            schedule.append(Schedule.closes_at <= f.end_time)
        conditions.append(exists().where(*schedule))
    return conditions


# ---------------------------------------------------------------- services


async def services_page(
    session: AsyncSession, f: ServiceFilter, pages: PageParams
) -> tuple[Sequence[Program], int]:
    query = select(Program).where(*service_conditions(f)).options(*LOADS)
    return await fetch_page(session, query, pages, Program.name, Program.id)


async def service(session: AsyncSession, service_id: uuid.UUID) -> Program | None:
    return await session.scalar(
        select(Program).where(Program.id == service_id, public_program()).options(*LOADS)
    )


async def context_of(
    session: AsyncSession, programs: Sequence[Program]
) -> tuple[dict[Any, Taxonomy], dict[Any, dict[Any, Any]]]:
    """What full services need besides the program: taxonomies by id, and for each
    program the service_at_location id of each of its locations."""
    taxonomies = await taxonomies_by_id(session)
    links: dict[Any, dict[Any, Any]] = {p.id: {} for p in programs}
    if programs:
        rows = await session.execute(
            select(PL.program_id, PL.location_id, PL.id).where(PL.program_id.in_(list(links)))
        )
        for program_id, location_id, link_id in rows.all():
            links[program_id][location_id] = link_id
    return taxonomies, links


async def stream_services(
    session: AsyncSession, f: ServiceFilter
) -> AsyncIterator[Sequence[Program]]:
    """Every matching service, in batches (keyset on id), for ndjson."""
    after: uuid.UUID | None = None
    while True:
        query = select(Program).where(*service_conditions(f)).options(*LOADS).order_by(Program.id)
        if after is not None:
            query = query.where(Program.id > after)
        batch = (await session.scalars(query.limit(STREAM_BATCH))).all()
        if not batch:
            return
        yield batch
        after = batch[-1].id


# ---------------------------------------------------------------- service_at_locations


@dataclass(frozen=True)
class Place:
    postcode: str | None = None
    proximity: int | None = None


async def _place_conditions(session: AsyncSession, place: Place) -> list[ColumnElement[bool]]:
    if place.postcode is None:
        if place.proximity is not None:
            raise Unprocessable(
                "proximity needs a postcode to measure from.",
                code="invalid_filter",
                errors=[
                    FieldError(loc=["query", "proximity"], msg="give postcode too", type="missing")
                ],
            )
        return []
    zip_area = select(Area.geom).where(Area.kind == AreaKind.zip, Area.code == place.postcode[:5])
    if await session.scalar(zip_area) is None:
        raise Unprocessable(
            f"No ZIP code area {place.postcode} is loaded.",
            code="unknown_reference",
            errors=[
                FieldError(
                    loc=["query", "postcode"], msg="unknown postcode", type="unknown_reference"
                )
            ],
        )
    zone = zip_area.scalar_subquery()
    if place.proximity is not None:
        # Within `proximity` meters of the ZIP area's centroid.
        return [
            func.ST_DWithin(
                Location.point, cast(func.ST_Centroid(zone), Geography), place.proximity
            )
        ]
    # Located in the ZIP area, or serving an area that reaches into it.
    return [
        or_(
            func.ST_Covers(zone, func.geometry(Location.point)),
            and_(Program.service_area.is_not(None), func.ST_Intersects(Program.service_area, zone)),
        )
    ]


def _links(conditions: list[ColumnElement[bool]]) -> Select[Any]:
    return (
        select(PL.id, Program, Location)
        .join(Program, Program.id == PL.program_id)
        .join(Location, Location.id == PL.location_id)
        .where(*conditions)
        .options(*LOADS)
    )


async def service_at_locations_page(
    session: AsyncSession, f: ServiceFilter, place: Place, pages: PageParams
) -> tuple[list[tuple[Any, Program, Location]], int]:
    conditions = service_conditions(f) + await _place_conditions(session, place)
    query = _links(conditions)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = await session.execute(
        query.order_by(Program.name, PL.id).offset(pages.offset).limit(pages.per_page)
    )
    return [(r[0], r[1], r[2]) for r in rows.unique().all()], int(total or 0)


async def service_at_location(
    session: AsyncSession, link_id: uuid.UUID
) -> tuple[Any, Program, Location] | None:
    query = _links([PL.id == link_id, public_program()])
    row = (await session.execute(query)).unique().first()
    return None if row is None else (row[0], row[1], row[2])


# ---------------------------------------------------------------- organizations


def _active_organization() -> ColumnElement[bool]:
    return exists().where(Program.organization_id == Organization.id, public_program())


async def organizations_page(
    session: AsyncSession, search: str | None, pages: PageParams
) -> tuple[Sequence[Organization], int]:
    query = select(Organization).where(_active_organization())
    if search:
        query = query.where(
            or_(_contains(Organization.name, search), _contains(Organization.description, search))
        )
    return await fetch_page(session, query, pages, Organization.name, Organization.id)


async def organization(session: AsyncSession, org_id: uuid.UUID) -> Organization | None:
    return await session.scalar(
        select(Organization).where(Organization.id == org_id, _active_organization())
    )


async def organization_parts(
    session: AsyncSession, org_id: uuid.UUID
) -> tuple[Sequence[Program], Sequence[Location]]:
    programs = (
        await session.scalars(
            select(Program)
            .where(Program.organization_id == org_id, public_program())
            .options(*LOADS)
            .order_by(Program.name, Program.id)
        )
    ).all()
    locations = (
        await session.scalars(
            select(Location).where(Location.organization_id == org_id).order_by(Location.id)
        )
    ).all()
    return programs, locations


# ---------------------------------------------------------------- taxonomy


async def taxonomies_page(
    session: AsyncSession, search: str | None, pages: PageParams
) -> tuple[Sequence[Taxonomy], int]:
    query = select(Taxonomy)
    if search:
        query = query.where(_contains(Taxonomy.name, search))
    return await fetch_page(session, query, pages, Taxonomy.name, Taxonomy.id)


@dataclass(frozen=True)
class TermFilter:
    search: str | None = None
    taxonomy_id: uuid.UUID | None = None
    top_only: bool | None = None
    parent_id: uuid.UUID | None = None


async def terms_page(
    session: AsyncSession, f: TermFilter, pages: PageParams
) -> tuple[Sequence[TaxonomyTerm], int]:
    query = select(TaxonomyTerm)
    if f.search:
        query = query.where(
            or_(_contains(TaxonomyTerm.name, f.search), _contains(TaxonomyTerm.code, f.search))
        )
    if f.taxonomy_id is not None:
        query = query.where(TaxonomyTerm.taxonomy_id == f.taxonomy_id)
    if f.top_only:
        query = query.where(TaxonomyTerm.parent_id.is_(None))
    if f.parent_id is not None:
        query = query.where(TaxonomyTerm.parent_id == f.parent_id)
    return await fetch_page(session, query, pages, TaxonomyTerm.code, TaxonomyTerm.id)


async def taxonomy(session: AsyncSession, taxonomy_id: uuid.UUID) -> Taxonomy | None:
    return await session.get(Taxonomy, taxonomy_id)


async def taxonomies_by_id(session: AsyncSession) -> dict[Any, Taxonomy]:
    return {t.id: t for t in await session.scalars(select(Taxonomy))}


async def term(session: AsyncSession, term_id: uuid.UUID) -> TaxonomyTerm | None:
    return await session.get(TaxonomyTerm, term_id)
