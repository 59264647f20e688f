"""Catalog queries. Every organization-owned read filters through auth.scope."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from service.auth import scope
from service.auth.principal import Principal
from service.catalog.enums import Category, OrganizationType, ProgramStatus
from service.catalog.models import Location, Organization, Program, TaxonomyTerm
from service.pagination import PageParams, fetch_page

PROGRAM_LOADS = (
    selectinload(Program.locations),
    selectinload(Program.taxonomy_terms),
    selectinload(Program.cost_options),
    selectinload(Program.schedules),
)


async def get_organization(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, *, for_update: bool = False
) -> Organization | None:
    return await scope.find_readable(
        session, Organization, org_id, principal, for_update=for_update
    )


async def list_organizations(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    org_type: OrganizationType | None,
) -> tuple[Sequence[Organization], int]:
    query = select(Organization).where(scope.readable(Organization, principal))
    if org_type is not None:
        query = query.where(Organization.type == org_type)
    return await fetch_page(session, query, params, Organization.name, Organization.id)


async def get_location(
    session: AsyncSession, principal: Principal, location_id: uuid.UUID, *, for_update: bool = False
) -> Location | None:
    return await scope.find_readable(
        session, Location, location_id, principal, for_update=for_update
    )


async def list_locations(
    session: AsyncSession, org_id: uuid.UUID, params: PageParams
) -> tuple[Sequence[Location], int]:
    query = select(Location).where(Location.organization_id == org_id)
    return await fetch_page(session, query, params, Location.name, Location.id)


async def locations_of(
    session: AsyncSession, org_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[Location]:
    if not ids:
        return []
    rows = await session.scalars(
        select(Location).where(Location.id.in_(ids), Location.organization_id == org_id)
    )
    return list(rows)


async def terms_by_code(session: AsyncSession, codes: Sequence[str]) -> list[TaxonomyTerm]:
    if not codes:
        return []
    return list(await session.scalars(select(TaxonomyTerm).where(TaxonomyTerm.code.in_(codes))))


async def list_terms(
    session: AsyncSession, params: PageParams
) -> tuple[Sequence[TaxonomyTerm], int]:
    return await fetch_page(session, select(TaxonomyTerm), params, TaxonomyTerm.code)


async def get_program(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID, *, for_update: bool = False
) -> Program | None:
    return await scope.find_readable(
        session, Program, program_id, principal, for_update=for_update, options=PROGRAM_LOADS
    )


async def list_programs(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    organization_id: uuid.UUID | None,
    category: Category | None,
    status: ProgramStatus | None,
) -> tuple[Sequence[Program], int]:
    query = select(Program).where(scope.readable(Program, principal)).options(*PROGRAM_LOADS)
    if organization_id is not None:
        query = query.where(Program.organization_id == organization_id)
    if category is not None:
        query = query.where(Program.category == category)
    if status is not None:
        query = query.where(Program.status == status)
    return await fetch_page(session, query, params, Program.name, Program.id)
